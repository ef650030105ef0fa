"""Every benchmark in one command, each bounded in time, ending with the README's table rows.

  .venv/bin/python loadtests/run_all.py            # ~8 min: Sippy and rtpengine if installed
  .venv/bin/python loadtests/run_all.py --quick    # < 3 min: ours only where a peer is slow

One at a time (they would disturb each other on this 2-core box), each step one 4-5 s run
(a single run can fail a step by a hair on a shared box; ``--repeats 3`` gives figures to
quote); a maximum at the top of its ladder is printed as ``≥``, a bound:

1. ``bench_sip.py --quick``: SIP calls/s of ours (200-600 CPS, up to the first failing
   step) against Sippy B2BUA (150-300) when ``/tmp/benchvenv`` has it; quick: ours at 300.
2. ``bench_media.py``: RTP streams relayed by ours, the bare Twisted relay, ours recording
   (200-700 streams) and rtpengine if installed (never installed here); quick: ours and
   bare Twisted at 300.
3. ``bench_acd.py --quick``: ACD decision latency, 2,000 agents, 200 waiting calls.
4. locust ``IvrCaller`` users (the locustfile says what each time measures) against a server
   and SIPp echo agents from ``locust_server.py``: 100 users, -t 110 s, 30 agents (quick 20,
   40 s, 10). Users spawn over 20 s, about one call (~21 s + a 0.5-2 s pause), so calls are
   spread out, not in waves; calls/s = calls begun between the end of spawning and the end
   of ``-t`` (each then runs to its end) over that window.

Raw outputs go to ``loadtests/results/run_all_<date>_<time>/``: each script's output, locust's
output and CSVs, every locust measurement (``locust/samples.jsonl.gz``), the server's log
(``server.log.gz``) and the table rows (``summary.md``).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from locust_server import LocustRun, run_locust, start_center  # run as a script, from here

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
BENCH_VENV = Path(os.environ.get("BENCH_VENV", "/tmp/benchvenv"))
NUMBER = r"([\d.]+|-)"
RAMP = 20.0  # seconds to spawn the locust users: about one IVR call
X = "\u00d7"  # the multiplication sign the README writes ratios with


def log(line: str = "") -> None:
    print(line, flush=True)


def run_step(name: str, cmd: list[str], out: Path, budget: float) -> str:
    """Run one benchmark in its own process group, echo and keep its output; kill on overrun."""
    log(f"\n== {name}: $ {shlex.join(cmd)}   (budget {budget:.0f} s)")
    started = time.monotonic()
    with out.open("w") as sink:
        sink.write(f"$ {shlex.join(cmd)}\n")
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        assert proc.stdout is not None
        deadline = started + budget
        for line in proc.stdout:
            sink.write(line)
            log("  | " + line.rstrip())
            if time.monotonic() > deadline:
                log(f"  !! {name} exceeded its {budget:.0f} s budget: stopping its process group")
                os.killpg(proc.pid, signal.SIGTERM)
                break
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log(f"   ({name}: exit {proc.returncode}, {time.monotonic() - started:.0f} s)")
    return out.read_text()


def gzip_to(source: Path, target: Path, remove: bool = False) -> None:
    if source.exists():
        with source.open("rb") as src, gzip.open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        if remove:
            source.unlink()


def find(pattern: str, text: str) -> tuple[str, ...] | None:
    match = re.search(pattern, text, re.MULTILINE)
    return match.groups() if match else None


def num(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "-", "nan") else None
    except ValueError:
        return None


def mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def fmt(value: float | None, spec: str = ".0f", unit: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{unit}"


class Table:
    """Rows as the README's Performance table has them."""

    def __init__(self) -> None:
        self.rows: list[str] = [
            "| what | command | ours | reference, same run | ratio | target |",
            "|---|---|---|---|---|---|",
        ]

    def add(self, what: str, command: str, *cells: str) -> None:
        """Cells: ours, then reference, ratio and target (each "—" when left out)."""
        shown = command if command == "same run" else f"`{command}`"
        cells = (*cells, *["—"] * (4 - len(cells)))
        self.rows.append(f"| {what} | {shown} | {' | '.join(cells)} |")


def shown(cmd: list[str]) -> str:
    """A command line as someone would type it from the repository root."""
    return ".venv/bin/python " + shlex.join(cmd[1:]).replace(str(ROOT) + "/", "")


def ladder(pattern: str, text: str) -> list[float]:
    found = find(pattern, text)
    return [float(x) for x in found[0].split(",")] if found else []


def bounded(value: float | None, steps: list[float], spec: str = ".0f") -> str:
    """The figure, marked ``≥`` when it is the top of its ladder (the real maximum is higher)."""
    top = value is not None and bool(steps) and value >= max(steps)
    return ("≥" if top else "") + fmt(value, spec)


def sip_rows(table: Table, text: str, command: str, sippy: bool) -> None:
    top = find(rf"^max calls/s with 0 failures\s+{NUMBER}\s+{NUMBER}\s+(\S+)", text)
    ours, ref = (num(top[0]), num(top[1])) if top else (None, None)
    if ours is None:
        table.add("SIP calls/s", command, "failed or no step passed: see bench_sip.txt")
        return
    ratio = ours / ref if ours and ref else None
    ours_text = bounded(ours, ladder(r"^== ours \(cti-server\) ramp (\S+) CPS", text))
    ref_text = bounded(ref, ladder(r"^== Sippy B2BUA at (\S+) CPS", text))
    reference = f"Sippy B2BUA {ref_text}" if sippy else "Sippy skipped (--quick)"
    target = f"Must ≥2{X}, Goal ≥5{X}"
    if ratio is not None:
        target = f"Must ≥2{X} {mark(ratio >= 2)}, Goal ≥5{X} {mark(ratio >= 5)}"
    what = "SIP calls/s, 0 failures (SIPp uac → B2BUA → SIPp uas; highest step passed)"
    ratio_text = f"**{ratio:.2f}{X}**" if ratio else "—"
    if "≥" in ours_text + ref_text and ratio:
        ratio_text += " (a ladder's top passed: ratio of bounds)"
    table.add(what, command, f"**{ours_text}**", reference, ratio_text, target)
    half = find(rf"^INVITE->200 p99 ms at {NUMBER} CPS \(1/2 ours\)\s+{NUMBER}", text)
    at_max = find(rf"^INVITE->200 p99 ms at own max\s+{NUMBER}", text)
    if half and num(half[1]) is not None:
        p99, what = num(half[1]), f"INVITE→200 p99 at half our max ({half[0]} CPS, nearest step)"
    else:  # --quick may not run a step at half the maximum: the p99 at the maximum bounds it
        p99 = num(at_max[0]) if at_max else None
        what = f"INVITE→200 p99 at our max ({fmt(ours)} CPS; no step at half of it ran)"
    target = f"Must <50 ms {mark(p99 is not None and p99 < 50)}"
    table.add(what, "same run", f"**{fmt(p99, '.0f', ' ms')}**", "—", "—", target)
    cpu = find(rf"^CPU us per call at own max\s+{NUMBER}\s+{NUMBER}", text)
    if cpu:
        mine, theirs = num(cpu[0]), num(cpu[1])
        ratio_text = f"{mine / theirs:.2f}{X}" if mine and theirs else "—"
        ours_text = fmt(mine and mine / 1000, ".2f", " ms")
        ref_text = f"Sippy {fmt(theirs and theirs / 1000, '.1f', ' ms')}" if sippy else "—"
        target = f"Goal ≤0.75 ms {mark(mine is not None and mine <= 750)}"
        table.add("CPU per call at our max", "same run", ours_text, ref_text, ratio_text, target)


MEDIA_LABELS = {
    "ours": "ours: MediaCore+MediaService, asyncio",
    "twisted": "bare Twisted (epoll), socket/stream",
    "record": "ours + recording",
    "rtpengine": "rtpengine userspace, 1 thread",
}


def media_rows(table: Table, text: str, command: str, streams: list[float]) -> None:
    found: dict[str, tuple[float | None, float | None]] = {}
    for kind, label in MEDIA_LABELS.items():
        row = find(rf"^{re.escape(label)}\s+(\d+)\s+\d+\s+{NUMBER}", text)
        if row:
            found[kind] = (num(row[0]), num(row[1]))
    ours = found.get("ours", (None, None))
    if not ours[0]:
        what = "RTP streams relayed, <0.1 % loss/late"
        table.add(what, command, "failed or nothing passed: see bench_media.txt")
        return
    for kind, must, goal in (("twisted", 0.8, None), ("rtpengine", None, 1.0)):
        if kind not in found:
            continue
        ref = found[kind]
        ratio = ours[0] / ref[0] if ours[0] and ref[0] else None
        cpu = ref[1] / ours[1] if ours[1] and ref[1] else None
        target = f"Must ≥{must}{X}" if must else f"Goal ≥{goal}{X}"
        bar = must or goal or 0
        if ratio is not None:
            target += f" {mark(ratio >= bar and (cpu is None or cpu >= bar))}"
        name = "bare Twisted" if kind == "twisted" else "rtpengine"
        both_top = bool(ref[0]) and min(ours[0], ref[0] or 0) >= max(streams)
        table.add(
            f"RTP streams relayed, <0.1 % loss/late, vs {name} (highest count passed)",
            command,
            f"**{bounded(ours[0], streams)}** ({fmt(ours[1], '.1f', ' µs/pkt')})",
            f"{name} {bounded(ref[0], streams)} ({fmt(ref[1], '.1f', ' µs/pkt')})",
            f"**{fmt(ratio, '.2f', X)}** (CPU/pkt {fmt(cpu, '.2f', X)})"
            + (" (both passed every count: compare CPU/pkt)" if both_top else ""),
            target,
        )
    if "record" in found and ours[0]:
        rec = found["record"]
        ratio = rec[0] / ours[0] if rec[0] else 0.0
        mine = f"{bounded(rec[0], streams)} ({fmt(rec[1], '.1f', ' µs/pkt')})"
        target = f"Must ≥0.7{X} {mark(ratio >= 0.7)}, Goal ≥0.8{X} {mark(ratio >= 0.8)}"
        base = f"ours {bounded(ours[0], streams)}"
        table.add("RTP relay, recording on", command, mine, base, f"{ratio:.2f}{X}", target)


def acd_rows(table: Table, text: str, command: str) -> None:
    head = find(r"^ACD routing decisions: (\d+) agents, (\d+) queues, (\d+) waiting", text)
    p99 = {
        name: num(value)
        for name, value in re.findall(r"^(\w+)\s+n=\s*\d+.*?p99\s+([\d.]+) ms", text, re.M)
    }
    worst = max((v for k, v in p99.items() if k != "enqueue" and v is not None), default=None)
    scale = f"{head[0]} agents, {head[1]} queues, {head[2]} waiting calls" if head else ""
    detail = ", ".join(
        f"{fmt(p99.get(k), '.2f', ' ms')} ({k.replace('_', ' ')})"
        for k in ("call_arrival", "ring_no_answer", "agent_ready")
    )
    target = f"Must p99 <5 ms {mark(worst is not None and worst < 5)}, Goal <1 ms "
    target += mark(worst is not None and worst < 1)
    table.add(f"ACD routing decision p99, {scale}", command, detail, "no peer", "—", target)


def locust_rows(
    table: Table, run: LocustRun, users: int, agents: int, seconds: int, cpu: float
) -> None:
    calls, window = run.steady("ivr")
    ok = len(run.values("call", "ivr"))
    failed = sum(run.errors().values())
    rate = calls / window if window else None
    cmd = ".venv/bin/python loadtests/run_all.py --only locust"
    cmd += f" --users {users} --seconds {seconds} --agents {agents}"
    per_call = f", server {cpu / ok * 1000:.0f} ms CPU/call" if ok else ""
    if run.seconds:
        per_call += f", locust {100 * run.cpu_seconds / run.seconds:.0f} % of a core"
    what = f"IVR calls/s completed by {users} locust callers, {agents} echo agents (login 1 / "
    ours = f"**{fmt(rate, '.2f')}** ({ok} calls, {failed} failed{per_call})"
    target = f"0 failures {mark(failed == 0 and run.returncode == 0 and ok > 0)}"
    table.add(what + "customer# / PIN#, 3 s talk)", cmd, ours, "—", "—", target)

    def p(kind: str, scale: float, spec: str, unit: str) -> str:
        lo, hi = run.percentile(kind, "ivr", 0.5), run.percentile(kind, "ivr", 0.95)
        return f"{fmt(lo and lo * scale, spec)} / {fmt(hi and hi * scale, spec)}{unit}"

    same = "same run"
    table.add("IVR call: SIP setup (INVITE→200) p50 / p95", same, p("SIP setup", 1e3, ".0f", " ms"))
    ivr = f"{p('IVR', 1, '.1f', ' s')} ({p('IVR after keys', 1, '.1f', ' s')})"
    what = "IVR call: answer → queued p50 / p95 (12.4 s of scripted keys; after the last key)"
    table.add(what, same, ivr)
    what = "IVR call: queue wait (queued → agent's echo heard) p50 / p95"
    table.add(what, same, p("queue wait", 1e3, ".0f", " ms"))


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]) if __doc__ else None,
    )
    ap.add_argument("--quick", action="store_true", help="< 3 min, no slow peers")
    ap.add_argument("--users", type=int, default=None, help="locust IVR callers (100; quick 20)")
    ap.add_argument("--seconds", type=int, default=None, help="locust -t (110; quick 40)")
    ap.add_argument("--agents", type=int, default=None, help="SIPp echo agents (30; quick 10)")
    ap.add_argument("--out", type=Path, default=None, help="results dir (loadtests/results/...)")
    ap.add_argument("--only", default="sip,media,acd,locust", help="comma list of steps")
    ap.add_argument(
        "--repeats", type=int, default=1, help="SIP and media runs per step (3 to quote)"
    )
    a = ap.parse_args()
    users = a.users or (20 if a.quick else 100)
    seconds = a.seconds or (40 if a.quick else 110)
    agents = a.agents or (10 if a.quick else 30)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H%M")
    out = a.out or ROOT / "loadtests" / "results" / f"run_all_{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    steps = set(a.only.split(","))
    began = time.monotonic()
    log(f"# run_all {'--quick ' if a.quick else ''}{datetime.datetime.now():%Y-%m-%d %H:%M}")
    log(f"# {os.uname().nodename}, {os.cpu_count()} CPUs; raw outputs in {out}")
    table = Table()
    sippy = (BENCH_VENV / "bin" / "b2bua").exists() and not a.quick
    bare_twisted = (BENCH_VENV / "bin" / "python").exists()
    notes: list[str] = []

    if "sip" in steps:
        minutes = str((6 if sippy else 3) * a.repeats)
        cmd = [PY, "loadtests/bench_sip.py", "--quick", "--max-minutes", minutes]
        cmd += ["--quiet-wait", "20" if not a.quick else "5"]
        cmd += ["--rates", "300"] if a.quick else ["--rates", "200,300,400,500,600"]
        cmd += ["--sippy-rates", "150,200,250,300"] if sippy else []
        cmd += ["--repeats", str(a.repeats)]
        if not sippy:
            cmd.append("--no-sippy")
            why = "--quick" if a.quick else f"no Sippy in {BENCH_VENV}"
            notes.append(f"SIP: Sippy not run ({why}); ours measured alone, no ratio.")
        budget = (420 if sippy else 200) * a.repeats
        text = run_step("bench_sip", cmd, out / "bench_sip.txt", budget)
        sip_rows(table, text, shown(cmd), sippy)

    if "media" in steps:
        relays = ["ours"] + (["twisted"] if bare_twisted else [])
        if not a.quick:
            relays.append("record")
            if shutil.which("rtpengine"):
                relays.append("rtpengine")
            else:
                notes.append("Media: rtpengine not installed (bench_media.py installs it).")
        if not bare_twisted:
            notes.append(f"Media: no bare Twisted relay ({BENCH_VENV} missing), no ratio.")
        streams = "300" if a.quick else "200,300,500,700"
        cmd = [PY, "loadtests/bench_media.py", "--relays", ",".join(relays), "--streams"]
        cmd += [streams, "--repeats", str(a.repeats), "--seconds", "4"]
        cmd += ["--out", str(out / "bench_media")]
        budget = (150 if a.quick else 400) * a.repeats
        text = run_step("bench_media", cmd, out / "bench_media.txt", budget)
        media_rows(table, text, shown(cmd[:-2]), [float(n) for n in streams.split(",")])

    if "acd" in steps:
        cmd = [PY, "loadtests/bench_acd.py", "--quick"]
        text = run_step("bench_acd", cmd, out / "bench_acd.txt", 120)
        acd_rows(table, text, shown(cmd))

    if "locust" in steps:
        log(f"\n== locust: {users} IvrCaller users, -t {seconds}s, {agents} SIPp echo agents")
        work = Path(tempfile.mkdtemp(prefix="run_all_center_"))
        center = start_center(work, agents=agents, seconds=seconds + 120)
        log(f"   server sip={center.sip_port} http={center.http_port}; work dir {work}")
        cpu0 = center.server_cpu_seconds()
        try:
            run = run_locust(
                center,
                out / "locust",
                users=users,
                spawn_rate=users / RAMP,
                seconds=seconds,
                classes=["IvrCaller"],
            )
            cpu = center.server_cpu_seconds() - cpu0
            if center.dead_agents():  # the ACD still offered them calls: 15 s ring-outs
                notes.append(f"SIPp agents that exited during the run: {center.dead_agents()}")
        finally:
            center.stop()
        gzip_to(center.log_path, out / "server.log.gz")
        gzip_to(run.output / "samples.jsonl", run.output / "samples.jsonl.gz", remove=True)
        shutil.rmtree(work, ignore_errors=True)
        lines = ["every measurement (locust's own table misses calls ending after -t):"]
        (run.output / "summary.txt").write_text("\n".join(lines + run.describe()) + "\n")
        log("\n".join("   " + line for line in lines + run.describe()))
        log(
            f"   (locust: exit {run.returncode}, {run.seconds:.0f} s; CPU: server {cpu:.1f} s, "
            f"locust {run.cpu_seconds:.1f} s)"
        )
        if run.errors():
            notes.append(f"locust failures: {dict(run.errors())}")
        if run.mark("cpu_warning"):
            notes.append("locust warned that its own CPU was above 90 %: the load is capped.")
        locust_rows(table, run, users, agents, seconds, cpu)

    log(f"\n== Performance table rows ({time.monotonic() - began:.0f} s in all; raw in {out})\n")
    summary = "\n".join(table.rows + [""] + [f"- {n}" for n in notes])
    log(summary)
    (out / "summary.md").write_text(summary + "\n")
    if a.quick:
        log("\n(quick: short single runs; quote full runs in the README)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
