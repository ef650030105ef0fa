"""Two cti-server nodes behind Kamailio's dispatcher on loopback, for the cluster test and
the cluster benchmark (``loadtests/cluster.py``).

The nodes share one Redis (a random key prefix, deleted afterwards, never FLUSHDB) and run
the contact-center config of the end-to-end tests with ``redis.cluster: true``; Kamailio
runs the repository's ``deploy/kamailio/kamailio.cfg`` with its own dispatcher list and
emergency URI. Everything is started here and stopped by PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KAMAILIO_CFG = ROOT / "deploy" / "kamailio" / "kamailio.cfg"
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"


def free_udp_port() -> int:
    """A port free for both UDP and TCP (Kamailio and SIPp bind one, the nodes both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


@dataclass
class Kamailio:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    list_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start_kamailio(tmp: Path, node_ports: list[int], emergency_uri: str) -> Kamailio:
    """Kamailio on a free UDP port, dispatching to ``node_ports`` on 127.0.0.1."""
    tmp.mkdir(parents=True, exist_ok=True)
    listing = tmp / "dispatcher.list"
    listing.write_text("".join(f"1 sip:127.0.0.1:{p} 0 0\n" for p in node_ports))
    run_dir = tmp / "run"
    run_dir.mkdir(exist_ok=True)
    port = free_udp_port()
    log_path = tmp / "kamailio.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [
                KAMAILIO,
                "-f",
                str(KAMAILIO_CFG),
                "-DD",
                "-E",
                "-Y",
                str(run_dir),
                "-l",
                f"udp:127.0.0.1:{port}",
                "-A",
                f'DS_LIST="{listing}"',
                "-A",
                f'EMERGENCY_URI="{emergency_uri}"',
                "-m",
                "64",
                "-M",
                "8",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its children die with the group
        )
    kam = Kamailio(port, proc, log_path, listing)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kamailio exited at start:\n{kam.log()}")
        if _answers_options(port):
            return kam
        time.sleep(0.1)
    kam.stop()
    raise RuntimeError(f"kamailio did not answer OPTIONS:\n{kam.log()}")


def _answers_options(port: int) -> bool:
    """Kamailio answers OPTIONS sent to itself (it dispatches other requests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.3)
        local = sock.getsockname()[1]
        branch = "z9hG4bK" + uuid.uuid4().hex
        message = (
            f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch={branch};rport\r\n"
            "Max-Forwards: 0\r\n"
            f"From: <sip:probe@127.0.0.1>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:127.0.0.1:{port}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(message.encode(), ("127.0.0.1", port))
        try:
            data = sock.recv(4096)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0")


def cluster_section(redis_url: str, prefix: str, node: str, ttl: float) -> str:
    section = {
        "url": redis_url,
        "key_prefix": prefix,
        "lease_ttl": ttl,
        "node_id": node,
        "cluster": True,
        "registration_sync": 0.2,
    }
    return f"redis: {json.dumps(section)}\n"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def kamailio_cpu_seconds(kam: Kamailio) -> float:
    """CPU time of Kamailio's process group (the main process and its workers)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) == kam.proc.pid:
                total += cpu_seconds(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return total
