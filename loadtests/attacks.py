"""Attack traffic against our own server on loopback: sipvicious and toll-fraud attempts.

Starts ``cti-server serve`` (accounts 1001-1003, 1001 with a weak password that is the
seventh word of the guessing dictionary; a carrier trunk played by a SIPp UAS; a branch PBX
trusted by address) and runs every scenario against it from its own loopback address:

* svmap, with and without its User-Agent (compact mode sends none);
* svwar walking extensions with REGISTER, OPTIONS, INVITE and SUBSCRIBE;
* svcrack guessing 1001's password, and a user that does not exist;
* a flood (svwar OPTIONS over a wide range) while a phone on another address asks too;
* toll fraud: unauthenticated INVITEs to external numbers, an svwar INVITE walk over them,
  and a trunk peer (trusted by address) dialling out through the carrier.

Each row: requests the tool sent (counted by a relay in front of it), the answers it got by
status, what the server dropped and counted (``sip_messages_dropped_total``), extensions
found by svwar against the real ones in the range, passwords found, failures before the
lock-out, and seconds. ``held`` says whether the defence held. Runs in about a minute
(``--quick``) or a few minutes:

  .venv/bin/python loadtests/attacks.py --quick
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

try:
    from loadtests import attack_kit as kit
except ImportError:  # run as a script from loadtests/
    import attack_kit as kit  # type: ignore[no-redef]


@dataclass
class Row:
    scenario: str
    sent: int
    answers: Counter[int]
    dropped: Counter[str]
    found: str = "-"
    passwords: str = "-"
    lockout: str = "-"
    seconds: float = 0.0
    held: bool = True
    notes: list[str] = field(default_factory=list)


def _answers(counts: Counter[int]) -> str:
    return " ".join(f"{s}x{n}" for s, n in sorted(counts.items())) or "none"


def _dropped(counts: Counter[str]) -> str:
    return " ".join(f"{r}:{n}" for r, n in sorted(counts.items()) if n) or "0"


def _measure(target: kit.Target, run: Callable[[], Row]) -> Row:
    """Run one scenario; its ``dropped`` is what the server's counters gained meanwhile."""
    before = target.dropped()
    row = run()
    row.dropped = target.dropped() - before
    return row


def _real(extensions: str) -> int:
    low, _, high = extensions.partition("-")
    return sum(1 for e in kit.REAL_EXTENSIONS if int(low) <= int(e) <= int(high or low))


# --- scenarios ------------------------------------------------------------------------------


def svmap(target: kit.Target, ip: str, *, compact: bool) -> Row:
    run = kit.sipvicious("svmap", target, ip, *(["-c"] if compact else []), timeout=30)
    found = kit.svmap_found(run.output)
    name = "svmap OPTIONS" + (" (compact, no User-Agent)" if compact else "")
    row = Row(name, run.tap.sent(), run.tap.answers, Counter(), seconds=run.seconds)
    row.found = f"{len(found)} server(s)"
    row.held = compact or not found  # an OPTIONS without a scanner's name is answered
    return row


def svwar(target: kit.Target, ip: str, method: str, extensions: str, *, force: bool = True) -> Row:
    args = ["-c", "-m", method, "-e", extensions, "--maximumtime", "3"]
    run = kit.sipvicious("svwar", target, ip, *args, *(["--force"] if force else []), timeout=120)
    found = kit.svwar_found(run.output)
    name = f"svwar {method} {extensions}" + ("" if force else " (no --force)")
    row = Row(name, run.tap.sent(), run.tap.answers, Counter(), seconds=run.seconds)
    row.found = f"{len(found)} of {_real(extensions)}"
    row.held = not found
    return row


def svwar_with_agent(target: kit.Target, ip: str, extensions: str) -> Row:
    run = kit.sipvicious("svwar", target, ip, "-e", extensions, "--maximumtime", "3", timeout=60)
    found = kit.svwar_found(run.output)
    row = Row("svwar REGISTER (User-Agent sent)", run.tap.sent(), run.tap.answers, Counter())
    row.found, row.seconds = f"{len(found)} of {_real(extensions)}", run.seconds
    row.held = not found and not run.tap.answers
    return row


def svcrack(
    target: kit.Target, ip: str, user: str, work: Path, words: list[str], timeout: float = 90
) -> Row:
    """svcrack stops by itself once nothing answers (3 s, then its 10 s socket timeout)."""
    dictionary = work / f"dictionary-{user}.txt"
    dictionary.write_text("\n".join(words) + "\n")
    args = ["-c", "-u", user, "-d", str(dictionary), "--maximumtime", "3"]
    run = kit.sipvicious("svcrack", target, ip, *args, timeout=timeout)
    found = kit.svcrack_found(run.output)
    failures = [line for line in target.events("authentication_failed") if f"source={ip}" in line]
    locked = next((i + 1 for i, line in enumerate(failures) if "locked=True" in line), None)
    where = f"position {words.index(kit.PASSWORD) + 1}" if kit.PASSWORD in words else "absent"
    row = Row(f"svcrack user {user} (password {where})", run.tap.sent(), run.tap.answers, Counter())
    row.passwords = ", ".join(found) or "none"
    row.lockout = f"after {locked}" if locked else "never"
    row.seconds, row.held = run.seconds, not found and locked is not None
    if run.timed_out:
        row.notes.append(f"still sending after {timeout:.0f} s: stopped")
    return row


def flood(target: kit.Target, ip: str, phone_ip: str, count: int) -> Row:
    """svwar OPTIONS over ``count`` names as fast as it goes; a phone elsewhere asks too."""
    args = ["-c", "-m", "OPTIONS", "-e", f"1-{count}", "--maximumtime", "3"]
    start = time.monotonic()
    runs: list[kit.ToolRun] = []
    worker = threading.Thread(
        target=lambda: runs.append(kit.sipvicious("svwar", target, ip, *args, timeout=180))
    )
    worker.start()
    time.sleep(1.0)
    phone = kit.send_options(phone_ip, target)
    worker.join()
    run = runs[0]
    row = Row(f"flood: svwar OPTIONS x{count}", run.tap.sent(), run.tap.answers, Counter())
    row.seconds = time.monotonic() - start
    row.notes.append(f"a phone on {phone_ip} during the flood heard {phone or 'nothing'}")
    row.held = phone == [200]
    return row


def toll_fraud(target: kit.Target, ip: str, uas_dir: Path, *, quick: bool) -> list[Row]:
    """Three ways to reach the carrier's UAS; each row counts the INVITEs it got meanwhile."""

    def direct() -> Row:
        numbers = ("0101234567", "00882123456")
        heard = [s for n in numbers for s in kit.send_invite(ip, target, n)]
        return Row("INVITE to 0... without credentials", 2, Counter(heard), Counter())

    def walk() -> Row:
        span = "0101234500-0101234519" if quick else "0101234000-0101234999"
        bare = span.replace("-0", "-")[1:]  # svwar counts in integers; -z 10 puts the 0 back
        args = ["-c", "-m", "INVITE", "--force", "-z", "10", "-e", bare, "--maximumtime", "3"]
        run = kit.sipvicious("svwar", target, ip, *args, timeout=120)
        return Row(f"svwar INVITE {span}", run.tap.sent(), run.tap.answers, Counter())

    def peer() -> Row:
        heard = kit.send_invite(kit.PEER_IP, target, "0101234567", agent="branch-pbx", wait=3.0)
        return Row("trunk peer (trusted by address) dials 0...", 1, Counter(heard), Counter())

    rows = []
    for scenario in (direct, walk, peer):
        before, start = kit.invites_received(uas_dir), time.monotonic()
        row = _measure(target, scenario)
        row.seconds = time.monotonic() - start
        time.sleep(0.3)  # SIPp writes its trace as it goes
        reached = kit.invites_received(uas_dir) - before
        row.found = f"carrier got {reached} INVITE(s)"
        row.held = reached == 0 and not any(200 <= s < 300 for s in row.answers)
        rows.append(row)
    return rows


# --- the run --------------------------------------------------------------------------------


def run_all(work: Path, *, quick: bool) -> list[Row]:
    carrier_port = kit.free_port(kit.CARRIER_IP)
    uas = kit.sipp_uas(work, kit.CARRIER_IP, carrier_port, timeout=900)
    target, server = kit.launch(work / "server", kit.config_text(carrier_port))
    ips = (f"127.0.1.{n}" for n in range(1, 250))
    span = "1000-1099" if quick else "100-9999"
    words = kit.DICTIONARY if quick else kit.DICTIONARY + [f"guess{n}" for n in range(2000)]
    try:
        rows = [
            _measure(target, lambda: svmap(target, next(ips), compact=False)),
            _measure(target, lambda: svmap(target, next(ips), compact=True)),
            _measure(target, lambda: svwar_with_agent(target, next(ips), span)),
            _measure(target, lambda: svwar(target, next(ips), "REGISTER", span, force=False)),
        ]
        for method in ("REGISTER", "INVITE", "OPTIONS", "SUBSCRIBE"):
            rows.append(_measure(target, functools.partial(svwar, target, next(ips), method, span)))
        rows.append(_measure(target, lambda: svcrack(target, next(ips), "1001", work, words)))
        rows.append(_measure(target, lambda: svcrack(target, next(ips), "4711", work, words)))
        count = 500 if quick else 5000
        rows.append(_measure(target, lambda: flood(target, next(ips), next(ips), count)))
        return rows + toll_fraud(target, next(ips), work, quick=quick)
    finally:
        kit.stop(server)
        kit.stop(uas)


def table(rows: list[Row]) -> str:
    head = ("scenario", "sent", "answers", "dropped+counted", "found", "passwords", "lock-out")
    lines = ["| " + " | ".join((*head, "s", "held")) + " |", "|" + "---|" * (len(head) + 2)]
    for r in rows:
        cells = [r.scenario, str(r.sent), _answers(r.answers), _dropped(r.dropped), r.found]
        cells += [r.passwords, r.lockout, f"{r.seconds:.1f}", "yes" if r.held else "NO"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"* {r.scenario}: {note}" for r in rows for note in r.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small ranges (about a minute)")
    parser.add_argument("--work", type=Path, help="keep logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="attacks-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        rows = run_all(work, quick=args.quick)
        print(table(rows))
        print(f"\n{len(rows)} scenarios in {time.monotonic() - start:.0f} s; logs in {work}")
    return 0 if all(r.held for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
