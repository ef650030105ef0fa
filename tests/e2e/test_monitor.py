"""Live monitoring end to end with three SIP phones: SIPp does each phone's signalling, this
test does their audio. The caller says 440 Hz, the agent 1000 Hz, the supervisor 2000 Hz,
each as G.711 every 20 ms from its own UDP socket, and every socket keeps what the server
sends it; FFT band energy then says who heard whom:

- listen: the supervisor hears caller and agent; neither of them hears the supervisor;
- whisper: the agent hears the supervisor, the caller does not;
- barge: both hear the supervisor;
- stopped: the direct forward is back; the recording has the caller's and the agent's own
  audio only (left and right), never the supervisor's.

Started from the API (the supervisor's phone rings) and from a feature code dialled on the
supervisor's phone (``*57`` + extension: barge), whose INVITE authenticates as 1003.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cti_server.rtp.g711 import alaw_decode, ulaw_decode, ulaw_encode
from tests.e2e.conftest import ROOT, Server, free_port, stop_server
from tests.e2e.contact_center import api
from tests.e2e.helpers import SippRun, event_field, register_agent, run_sipp, wait_event
from tests.e2e.test_media import server_media

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

CONFIG = """
http: {listen: 127.0.0.1, port: 0}
sip: {listen: 127.0.0.1, port: 0, realm: cti.local, ring_timeout: 15}
accounts:
  - {user: "1001", password: "pw1001", digest_algorithms: [MD5]}
  - {user: "1003", password: "pw1003", digest_algorithms: [MD5]}
trunks:
  - {name: gw, allow_from: [127.0.0.1/32]}
media: {mode: anchor, rtp_timeout: 60}
routes:
  - {match: '1\\d{3}', target: 'extension:\\g<0>'}
"""
TONES = {"caller": 440.0, "agent": 1000.0, "supervisor": 2000.0}
SETTLE, WINDOW = 0.3, 1.0


class Phones:
    """Three phones' audio in one thread: each sends its tone every 20 ms to the server's
    port for its leg (once known) and keeps what it receives, with the arrival time."""

    def __init__(self) -> None:
        self.socks: dict[str, socket.socket] = {}
        self.frames: dict[str, list[bytes]] = {}
        for name, hz in TONES.items():
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            self.socks[name] = sock
            pcm = (6000 * np.sin(2 * np.pi * hz * np.arange(8000) / 8000)).astype(np.int16)
            data = ulaw_encode(pcm)  # one second: a whole number of cycles, loops seamlessly
            self.frames[name] = [data[i : i + 160] for i in range(0, 8000, 160)]
        self.dest: dict[str, tuple[str, int]] = {}
        self.got: dict[str, list[tuple[float, int, bytes]]] = {name: [] for name in TONES}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def port(self, name: str) -> str:
        return str(self.socks[name].getsockname()[1])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.socks.values():
            sock.close()

    def _run(self) -> None:
        by_fd = {sock.fileno(): name for name, sock in self.socks.items()}
        due, n = time.monotonic(), 0
        while not self._stop.is_set():
            ready, _, _ = select.select(
                list(self.socks.values()), [], [], max(0, due - time.monotonic())
            )
            for sock in ready:
                try:
                    while True:
                        data = sock.recv(2048)
                        if len(data) > 12:
                            self.got[by_fd[sock.fileno()]].append(
                                (time.monotonic(), data[1] & 0x7F, data[12:])
                            )
                except (BlockingIOError, ConnectionRefusedError):
                    pass
            if time.monotonic() >= due:
                for name, dest in list(self.dest.items()):
                    header = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, 160 * n, 1000 + len(name))
                    with contextlib.suppress(OSError):  # the port closed (the supervisor left)
                        self.socks[name].sendto(header + self.frames[name][n % 50], dest)
                n += 1
                due += 0.02

    def listen(self, seconds: float = WINDOW) -> dict[str, np.ndarray]:
        """What each phone heard during the next ``seconds`` (after a short settling)."""
        time.sleep(SETTLE)
        start = time.monotonic()
        time.sleep(seconds)
        end = time.monotonic()
        out: dict[str, np.ndarray] = {}
        for name, packets in self.got.items():
            chunks = [
                (alaw_decode(p) if pt == 8 else ulaw_decode(p))
                for t, pt, p in list(packets)
                if start <= t < end and pt in (0, 8)
            ]
            out[name] = np.concatenate(chunks).astype(float) if chunks else np.zeros(0)
        return out


def share(audio: np.ndarray, hz: float) -> float:
    """The part of the audio's energy within 25 Hz of ``hz`` (0 for silence)."""
    if len(audio) < 800:
        return 0.0
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    total = spectrum.sum()
    freqs = np.fft.rfftfreq(len(audio), 1 / 8000)
    return float(spectrum[np.abs(freqs - hz) < 25].sum() / total) if total > 0 else 0.0


def check(heard: dict[str, np.ndarray], who: str, hears: set[str], phase: str) -> None:
    """``who`` heard exactly the parties in ``hears`` (among the other two)."""
    shares = {other: round(share(heard[who], TONES[other]), 4) for other in TONES}
    for other in TONES:
        if other == who:
            continue
        if other in hears:
            assert shares[other] > 0.1, f"{phase}: {who} should hear {other}: {shares}"
        else:
            assert shares[other] < 0.01, f"{phase}: {who} must not hear {other}: {shares}"


def start_monitoring_server(tmp: Path, supervisors: dict[str, str] | None = None) -> Server:
    """``cti-server serve`` (live monitoring is wired by the composition root); the
    users in ``supervisors`` (name -> phone account) are stored first."""
    from cti_server.auth import ScryptCost
    from cti_server.config import load_config
    from cti_server.storage.db import Database
    from cti_server.storage.migrations import upgrade
    from cti_server.storage.users import UserRepo, seed_demo_users

    cfg, data = tmp / "cti.yaml", tmp / "data"
    cfg.write_text(CONFIG)
    data.mkdir(exist_ok=True)
    database = Database.from_config(load_config(cfg).with_overrides(data_dir=str(data)))
    try:
        upgrade(database.sync_engine)
        repo = UserRepo(database, cost=ScryptCost(n=1024))
        seed_demo_users(repo)
        for name, phone in (supervisors or {}).items():
            repo.add(name, "monitor-pass-1", role="supervisor", agent_id=phone)
    finally:
        database.dispose_sync()
    log_path = tmp / "server.log"
    log_file = log_path.open("w")
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "cti_server", "serve", "--config", str(cfg),
               "--data-dir", str(data)]  # fmt: skip
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env, cwd=tmp
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}\n{log_path.read_text()}")
    proc.stdout.close()
    fields = dict(part.split("=", 1) for part in line.split()[2:])
    server = Server(int(fields["sip"].rsplit(":", 1)[1]), proc, log_path, data, log_file,
                    config_path=cfg)  # fmt: skip
    server.extra["http_port"] = int(fields["http"].rsplit(":", 1)[1])
    return server


@pytest.fixture
def phones() -> Iterator[Phones]:
    p = Phones()
    yield p
    p.close()


def connect_call(tmp: Path, server: Server, phones: Phones, talk_ms: int) -> tuple[SippRun, ...]:
    """Agent 1001 registered and answering; the caller on it; audio flowing both ways."""
    agent_port = free_port()
    agent = run_sipp(tmp, "agent", "agent_media.xml", server.port, "-s", "1001",
                     "-key", "rtp_port", phones.port("agent"), "-key", "rtp_pt", "0",
                     "-key", "rtp_codec", "PCMU", port=agent_port, timeout=50)  # fmt: skip
    register_agent(tmp, server, "1001", "pw1001", agent_port)
    caller = run_sipp(tmp, "caller", "caller_media.xml", server.port, "-s", "1001",
                      "-d", str(talk_ms), "-key", "rtp_port", phones.port("caller"),
                      timeout=50)  # fmt: skip
    assert wait_event(server, "call_established", timeout=10), server.log()
    time.sleep(0.2)
    phones.dest["caller"] = server_media(caller.messages(), "SIP/2.0 200 OK")
    phones.dest["agent"] = server_media(agent.messages(), "INVITE sip:")
    return caller, agent


def check_recording(server: Server) -> None:
    """Left: the caller's 440 Hz only; right: the agent's 1000 Hz only; no 2000 Hz at all."""
    deadline, files = time.monotonic() + 5, []
    while not files and time.monotonic() < deadline:
        files = sorted((server.data_dir / "recordings").rglob("*.wav"))
        time.sleep(0.1)
    assert len(files) == 1, files
    with wave.open(str(files[0])) as w:
        assert w.getnchannels() == 2
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    left, right = pcm[:, 0].astype(float), pcm[:, 1].astype(float)
    assert share(left, 440) > 0.5 and share(left, 2000) < 0.001, share(left, 2000)
    assert share(right, 1000) > 0.5 and share(right, 2000) < 0.001, share(right, 2000)


def test_listen_whisper_and_barge_from_the_api(tmp_path: Path, phones: Phones) -> None:
    server = start_monitoring_server(tmp_path)
    try:
        sup_port = free_port()
        supervisor = run_sipp(tmp_path, "supervisor", "agent_media.xml", server.port,
                              "-s", "1003", "-key", "rtp_port", phones.port("supervisor"),
                              "-key", "rtp_pt", "0", "-key", "rtp_codec", "PCMU",
                              port=sup_port, timeout=50)  # fmt: skip
        register_agent(tmp_path, server, "1003", "pw1003", sup_port)
        caller, agent = connect_call(tmp_path, server, phones, talk_ms=16000)
        call_id = event_field(server.events("call_established")[0], "call_id")
        heard = phones.listen()
        check(heard, "caller", {"agent"}, "before")
        check(heard, "agent", {"caller"}, "before")

        status, body = api(server, f"/api/v1/calls/{call_id}/monitor",
                           {"mode": "listen", "extension": "1003"}, user="super")  # fmt: skip
        assert status == 201, body
        assert wait_event(server, "monitor_started", timeout=10, mode="listen"), server.log()
        phones.dest["supervisor"] = server_media(supervisor.messages(), "INVITE sip:")
        heard = phones.listen()
        check(heard, "supervisor", {"caller", "agent"}, "listen")
        check(heard, "caller", {"agent"}, "listen")
        check(heard, "agent", {"caller"}, "listen")
        packets = [t for t, *_ in phones.got["supervisor"] if t > time.monotonic() - WINDOW]
        assert 40 <= len(packets) <= 60, len(packets)  # the mix is paced at 20 ms

        for mode, caller_hears, agent_hears in [
            ("whisper", {"agent"}, {"caller", "supervisor"}),
            ("barge", {"agent", "supervisor"}, {"caller", "supervisor"}),
        ]:
            status, body = api(server, f"/api/v1/calls/{call_id}/monitor/mode", {"mode": mode},
                               user="super")  # fmt: skip
            assert (status, body.get("mode")) == (200, mode), body
            assert wait_event(server, "monitor_changed", mode=mode), server.log()
            heard = phones.listen()
            check(heard, "caller", caller_hears, mode)
            check(heard, "agent", agent_hears, mode)
            check(heard, "supervisor", {"caller", "agent"}, mode)

        status, body = api(server, f"/api/v1/calls/{call_id}/monitor/stop", {}, user="super")
        assert status == 200, body
        assert wait_event(server, "monitor_ended", cause="stopped"), server.log()
        assert supervisor.finish(10) == 0, supervisor.explain()  # our BYE ended its call
        heard = phones.listen()
        check(heard, "caller", {"agent"}, "stopped")
        check(heard, "agent", {"caller"}, "stopped")
        assert caller.finish(30) == 0, caller.explain()
        assert agent.finish(10) == 0, agent.explain()
        assert wait_event(server, "call_cleared", call_id=call_id), server.log()
        check_recording(server)
    finally:
        stop_server(server)
    assert "Traceback" not in server.log(), server.log()


def test_a_supervisor_barges_in_by_dialling_a_feature_code(tmp_path: Path, phones: Phones) -> None:
    server = start_monitoring_server(tmp_path, {"lead": "1003"})
    try:
        caller, agent = connect_call(tmp_path, server, phones, talk_ms=12000)
        call_id = event_field(server.events("call_established")[0], "call_id")
        supervisor = run_sipp(tmp_path, "supervisor", "supervisor_feature.xml", server.port,
                              "-s", "*571001", "-au", "1003", "-ap", "pw1003",
                              "-key", "rtp_port", phones.port("supervisor"), "-d", "3000",
                              "-i", "127.0.0.2", "-mi", "127.0.0.1", timeout=30)  # fmt: skip
        started = wait_event(server, "monitor_started", timeout=10, via="feature_code")
        assert started, server.log() + supervisor.messages()
        assert event_field(started[0], "call_id") == call_id
        assert event_field(started[0], "mode") == "barge"
        phones.dest["supervisor"] = server_media(supervisor.messages(), "SIP/2.0 200 OK")
        heard = phones.listen()
        check(heard, "caller", {"agent", "supervisor"}, "barge")
        check(heard, "agent", {"caller", "supervisor"}, "barge")
        check(heard, "supervisor", {"caller", "agent"}, "barge")
        assert supervisor.finish(15) == 0, supervisor.explain()  # hung up after 3 s
        ended = wait_event(server, "monitor_ended", cause="supervisor_hangup")
        assert ended, server.log()
        phones.dest.pop("supervisor")
        heard = phones.listen()
        check(heard, "caller", {"agent"}, "after")
        check(heard, "agent", {"caller"}, "after")
        assert caller.finish(30) == 0, caller.explain()
        assert agent.finish(10) == 0, agent.explain()
        assert wait_event(server, "call_cleared", call_id=call_id), server.log()
        check_recording(server)
    finally:
        stop_server(server)
    assert "Traceback" not in server.log(), server.log()
