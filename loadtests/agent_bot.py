"""The agents of a load run: one SIPp UAS per ACD agent, registered with digest, that answers
call after call and echoes the caller's RTP back (``agent_answer.xml -rtp_echo``).

An echo is what lets a locust caller hear that it reached an agent (``sip_user``). One SIPp
process per agent, because the registrar keeps one contact per agent and the ACD offers an
agent one call at a time anyway; ``-m 1000000`` and ``-timeout`` keep each bounded in time,
not in calls. Registration goes through a copy of ``register.xml`` asking for an hour (its
120 s would lapse in a long run) from a separate SIPp process, as the e2e tests do.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent / "sipp"


def port_blocks(count: int) -> list[int]:
    """Bases of ``count`` runs of four free UDP ports on 127.0.0.1, one per SIPp process
    (SIP on base, RTP echo on base+1 and base+3, control on base+2). Every port stays bound
    until all are found, so no two of our processes collide; SIPp binds them right after."""
    held: list[socket.socket] = []
    bases: list[int] = []
    try:
        while len(bases) < count and len(held) < 40 * count + 100:
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(probe)
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
            try:
                for offset in (1, 2, 3):
                    held.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    held[-1].bind(("127.0.0.1", base + offset))
            except OSError:  # taken, or past 65535
                continue
            bases.append(base)
    finally:
        for sock in held:
            sock.close()
    if len(bases) < count:
        raise RuntimeError("not enough free UDP ports")
    return bases


def start_agents(
    work: Path, server_port: int, ids: list[str], seconds: float
) -> list[subprocess.Popen[bytes]]:
    """Start and register one echo agent per id (password ``pw<id>``); their processes.

    Raises (after stopping what it started) when an agent exits at once or fails to register.
    """
    sipp = shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("SIPp is not installed: apt-get install sip-tester")
    register = work / "register_long.xml"
    text = (SCENARIOS / "register.xml").read_text()
    register.write_text(text.replace("Expires: 120", "Expires: 3600"))
    base = [sipp, "-i", "127.0.0.1", "-nostdin", "-trace_err"]
    target = f"127.0.0.1:{server_port}"
    agents: list[subprocess.Popen[bytes]] = []
    registrations: list[subprocess.Popen[bytes]] = []
    blocks = port_blocks(2 * len(ids))
    for agent, port, reg_port in zip(ids, blocks[::2], blocks[1::2], strict=True):
        uas = [*base, "-sf", str(SCENARIOS / "agent_answer.xml"), "-s", agent, "-p", str(port)]
        uas += ["-mp", str(port + 1), "-cp", str(port + 2), "-rtp_echo", "-aa", "-m", "1000000"]
        uas += ["-timeout", f"{int(seconds) + 20}s", "-error_file"]
        uas += [str(work / f"agent_{agent}_errors.log"), target]
        # SIPp binds RTP ports even to register: it gets a block of its own too.
        reg = [*base, "-sf", str(register), "-s", agent, "-au", agent, "-ap", f"pw{agent}"]
        reg += ["-key", "contact_port", str(port), "-p", str(reg_port), "-mp", str(reg_port + 1)]
        reg += ["-cp", str(reg_port + 2), "-m", "1", "-timeout", "10s", "-error_file"]
        reg += [str(work / f"register_{agent}_errors.log"), target]
        for cmd, started in ((uas, agents), (reg, registrations)):
            quiet = subprocess.DEVNULL
            started.append(subprocess.Popen(cmd, stdout=quiet, stderr=quiet, cwd=work))
    failed = [a for a, p in zip(ids, registrations, strict=True) if p.wait(timeout=20) != 0]
    failed += [a for a, p in zip(ids, agents, strict=True) if p.poll() is not None]
    if failed:
        for proc in agents:
            proc.kill()
            proc.wait()
        raise RuntimeError(f"agents {failed} did not start or register (see {work})")
    return agents
