"""Two cti-server nodes behind Kamailio under a SIPp load: CPU per call per node, and a
leader kill in the middle of the load.

What it starts (all on 127.0.0.1, all stopped by PID at the end): two ``cti-server serve``
nodes with ``redis.cluster: true`` sharing the machine's Redis under a random key prefix
(deleted at the end), Kamailio with ``deploy/kamailio/kamailio.cfg`` dispatching to both,
N SIPp echo agents registered through Kamailio, and SIPp callers
(``loadtests/sipp/caller_routed.xml``) dialling the queue through Kamailio at a fixed rate.
Each call: the caller is queued on whichever node Kamailio picked, the leader's distributor
chooses an agent, the owning node rings the agent and bridges the media, the caller hangs up
after ``--hold`` seconds.

On two cores a calls/s figure would measure the machine, not us; the table gives each
process's CPU time per call (user + system, from /proc, minus its idle rate measured just
before) and where the calls went. ``--kill-leader`` kills the leader with SIGKILL halfway and
reports how long the lease took to move and how many calls failed.

    .venv/bin/python loadtests/cluster.py --calls 200 --rate 5
    .venv/bin/python loadtests/cluster.py --quick
    .venv/bin/python loadtests/cluster.py --calls 200 --rate 5 --kill-leader
    .venv/bin/python loadtests/cluster.py --calls 200 --rate 5 --nodes 1   (the reference)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtests.agent_bot import start_agents  # noqa: E402
from loadtests.cluster_rig import (  # noqa: E402
    Kamailio,
    cluster_section,
    cpu_seconds,
    free_udp_port,
    kamailio_cpu_seconds,
    start_kamailio,
)
from loadtests.locust_server import agent_ids, login, python, write_config  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SCENARIO = ROOT / "loadtests" / "sipp" / "caller_routed.xml"


@dataclass
class Node:
    name: str
    work: Path
    proc: subprocess.Popen[str]
    sip_port: int
    http_port: int
    token: str = ""
    killed: bool = False

    def log(self) -> str:
        return (self.work / "server.log").read_text(errors="replace")

    def connected(self) -> int:
        """Calls this node connected to an agent (its event log)."""
        return sum(
            1
            for line in self.log().splitlines()
            if " call_established " in line and "agent_id=" in line
        )

    def api(self, path: str) -> dict[str, object]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]


@dataclass
class Rig:
    work: Path
    prefix: str
    nodes: list[Node] = field(default_factory=list)
    kam: Kamailio | None = None
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for proc in self.agents:
            if proc.poll() is None:
                proc.terminate()
        for node in self.nodes:
            if node.proc.poll() is None:
                node.proc.terminate()
        for proc in [*self.agents, *(n.proc for n in self.nodes)]:
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.kam is not None:
            self.kam.stop()
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        keys = list(client.scan_iter(match=self.prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def start_node(rig: Rig, name: str, agents: int, seconds: float) -> Node:
    work = rig.work / name
    work.mkdir(parents=True)
    config = write_config(work, agents, "none")
    config.write_text(config.read_text() + cluster_section(REDIS_URL, rig.prefix, name, ttl=2.0))
    for command in (["db", "upgrade"], ["users", "demo"]):
        subprocess.run(
            [python(), "-m", "cti_server", *command, "--config", str(config)],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=work,
        )
    with (work / "server.log").open("w") as log_file:
        proc = subprocess.Popen(
            [
                *("timeout", str(int(seconds)), python(), "-m", "cti_server", "serve"),
                *("--config", str(config), "--data-dir", str(work / "data")),
            ],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            cwd=work,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.stdout.close()
    if "ready" not in line:
        raise RuntimeError(f"node {name} did not start: {line!r}")
    fields = dict(part.split("=", 1) for part in line.split()[2:])
    node = Node(
        name,
        work,
        proc,
        int(fields["sip"].rsplit(":", 1)[1]),
        int(fields["http"].rsplit(":", 1)[1]),
    )
    node.token = login(node.http_port, "super", "superpass")
    rig.nodes.append(node)
    return node


def server_pid(node: Node) -> int:
    """The ``cti-server`` under ``timeout``."""
    children = Path(f"/proc/{node.proc.pid}/task/{node.proc.pid}/children").read_text().split()
    return int(children[0])


def leader_of(nodes: list[Node]) -> Node | None:
    for node in nodes:
        if node.killed:
            continue
        try:
            if node.api("/api/v1/ha").get("role") == "leader":
                return node
        except OSError:
            continue
    return None


def wait_ready(leader: Node, ids: list[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    ready: set[str] = set()
    while time.monotonic() < deadline:
        rows = leader.api("/api/v1/agents")["agents"]
        ready = {r["id"] for r in rows if r["state"] == "ready"}  # type: ignore[union-attr, index]
        if ready >= set(ids):
            return
        time.sleep(0.2)
    raise RuntimeError(f"agents not ready: {sorted(set(ids) - ready)}")


def cpu_all(rig: Rig) -> dict[str, float]:
    out = {n.name: cpu_seconds(server_pid(n)) for n in rig.nodes if not n.killed}
    if rig.kam is not None:
        out["kamailio"] = kamailio_cpu_seconds(rig.kam)
    return out


def run(args: argparse.Namespace) -> int:
    seconds = args.calls / args.rate + args.hold + 120
    work = Path(tempfile.mkdtemp(prefix="cti-cluster-"))
    rig = Rig(work, f"cti-bench:{secrets.token_hex(4)}:")
    try:
        a = start_node(rig, "a", args.agents, seconds)
        time.sleep(1.0)  # a takes the lease first
        ports = [a.sip_port]
        if args.nodes == 2:
            ports.append(start_node(rig, "b", args.agents, seconds).sip_port)
        rig.kam = start_kamailio(work / "kam", ports, "sip:119@127.0.0.1:9")
        ids = agent_ids(args.agents)
        rig.agents = start_agents(work, rig.kam.port, ids, seconds)
        leader = leader_of(rig.nodes)
        if leader is None:
            raise RuntimeError("no leader")
        wait_ready(leader, ids)
        print(
            f"up: nodes {', '.join(f'{n.name}:{n.sip_port}' for n in rig.nodes)}, "
            f"kamailio :{rig.kam.port}, {args.agents} agents, leader {leader.name}",
            flush=True,
        )

        idle_from, idle = cpu_all(rig), 3.0
        time.sleep(idle)
        idle_rate = {k: (v - idle_from[k]) / idle for k, v in cpu_all(rig).items()}

        before = cpu_all(rig)
        started = time.monotonic()
        caller = subprocess.Popen(
            ["sipp", "-sf", str(SCENARIO), "-s", "1599", "-d", str(int(args.hold * 1000)),
             "-r", str(args.rate), "-m", str(args.calls), "-l", str(args.calls),
             "-i", "127.0.0.1", "-p", str(free_udp_port()), "-nostdin", "-timeout",
             f"{int(seconds)}s", "-trace_stat", "-stf", str(work / "callers.csv"),
             f"127.0.0.1:{rig.kam.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=work,
        )  # fmt: skip
        takeover = None
        if args.kill_leader:
            time.sleep(args.calls / args.rate / 2)
            old = leader
            os.kill(server_pid(old), signal.SIGKILL)
            old.killed = True
            killed_at = time.monotonic()
            print(f"killed the leader {old.name} (SIGKILL)", flush=True)
            while time.monotonic() - killed_at < 15:
                new = leader_of(rig.nodes)
                if new is not None:
                    takeover = time.monotonic() - killed_at
                    break
                time.sleep(0.1)
        caller.communicate(timeout=seconds)
        elapsed = time.monotonic() - started
        after = cpu_all(rig)
        failed = failed_calls(work / "callers.csv")
        print_table(args, rig, before, after, idle_rate, elapsed, failed, takeover)
        return 0 if failed == 0 or args.kill_leader else 1
    finally:
        rig.stop()


def failed_calls(stat_file: Path) -> int:
    """SIPp's cumulative failed-call count (the last line of its -trace_stat CSV)."""
    if not stat_file.exists():
        return -1
    lines = [line for line in stat_file.read_text().splitlines() if line.strip()]
    header, last = lines[0].split(";"), lines[-1].split(";")
    return int(last[header.index("FailedCall(C)")])


def print_table(
    args: argparse.Namespace,
    rig: Rig,
    before: dict[str, float],
    after: dict[str, float],
    idle_rate: dict[str, float],
    elapsed: float,
    failed: int,
    takeover: float | None,
) -> None:
    rows = []
    total = 0
    for node in rig.nodes:
        calls = node.connected()
        total += calls
        rows.append((node.name, calls))
    lines = [
        f"cluster run {date.today()}, {args.nodes} node(s): {args.calls} calls at "
        f"{args.rate}/s, hold {args.hold:g} s, "
        f"{args.agents} agents, {elapsed:.0f} s, failed {failed}"
        + (f", leader killed, lease moved in {takeover:.1f} s" if takeover is not None else ""),
        f"{'process':<10} {'calls':>6} {'CPU s':>7} {'idle CPU s':>10} {'µs/call':>9}",
    ]
    for name, calls in rows:
        if name not in after:
            lines.append(f"{name:<10} {calls:>6} {'(killed)':>7}")
            continue
        used = after[name] - before[name]
        base = idle_rate.get(name, 0.0) * elapsed
        per = (used - base) / calls * 1e6 if calls else float("nan")
        lines.append(f"{name:<10} {calls:>6} {used:>7.2f} {base:>10.2f} {per:>9.0f}")
    if "kamailio" in after:
        used = after["kamailio"] - before["kamailio"]
        base = idle_rate.get("kamailio", 0.0) * elapsed
        per = (used - base) / total * 1e6 if total else float("nan")
        lines.append(f"{'kamailio':<10} {total:>6} {used:>7.2f} {base:>10.2f} {per:>9.0f}")
    text = "\n".join(lines)
    print(text)
    out = (
        ROOT
        / "loadtests"
        / "results"
        / f"cluster-{date.today()}-{args.nodes}node{'-kill' if takeover else ''}.txt"
    )
    out.write_text(text + "\n")
    print(f"(saved to {out.relative_to(ROOT)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls to place (default 200)")
    parser.add_argument("--rate", type=float, default=5.0, help="new calls per second")
    parser.add_argument("--hold", type=float, default=2.0, help="seconds each call lasts")
    parser.add_argument("--agents", type=int, default=20, help="SIPp echo agents")
    parser.add_argument("--kill-leader", action="store_true", help="SIGKILL the leader halfway")
    parser.add_argument(
        "--nodes", type=int, choices=(1, 2), default=2, help="1: the same path with one node"
    )
    parser.add_argument("--quick", action="store_true", help="30 calls at 5/s, 10 agents")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.rate, args.agents = 30, 5.0, 10
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
