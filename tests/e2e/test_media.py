"""Anchored RTP over real sockets: SIPp does the signalling, the test is both phones' audio.

The caller and the agent each announce a UDP socket of this test in their SDP; the test
sends G.711 frames from each side to the server's address for that leg and checks what the
other side receives: every frame, one continuous SSRC/sequence, the right payload type,
and µ-law turned into A-law when the agent answered with PCMA.
"""

from __future__ import annotations

import re
import socket
import struct
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from cti_server.rtp.g711 import ALAW_TO_ULAW, ULAW_TO_ALAW, ulaw_encode
from tests.e2e.conftest import Server, free_port
from tests.e2e.helpers import SippRun, register_agent, run_sipp, wait_event

pytestmark = pytest.mark.e2e
FRAMES = 40


def server_media(sdp_holder: str, marker: str) -> tuple[str, int]:
    """The server's c= address and m= port in the first SDP after ``marker`` in a trace."""
    text = sdp_holder.split(marker, 1)[1]
    host = re.search(r"c=IN IP4 (\S+)", text).group(1)  # type: ignore[union-attr]
    port = int(re.search(r"m=audio (\d+) ", text).group(1))  # type: ignore[union-attr]
    return host, port


def tone(freq: float) -> list[bytes]:
    t = np.arange(FRAMES * 160) / 8000.0
    pcm = (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    data = ulaw_encode(pcm)
    return [data[i * 160 : (i + 1) * 160] for i in range(FRAMES)]


def send(sock: socket.socket, frames: list[bytes], dest: tuple[str, int], pt: int) -> None:
    for i, payload in enumerate(frames):
        header = struct.pack("!BBHII", 0x80, pt | (0x80 if i == 0 else 0), 100 + i, 160 * i, 4242)
        sock.sendto(header + payload, dest)
        time.sleep(0.02)  # real time: the recorder takes one frame per 20 ms tick


def receive(sock: socket.socket, expected: int, timeout: float = 3.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(2048))
        except TimeoutError:
            break
    return got


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", free_port()))
    return sock


def connect(
    server: Server,
    tmp: Path,
    a: socket.socket,
    b: socket.socket,
    agent_codec: tuple[str, str],
    talk_ms: int = 3000,
) -> tuple[SippRun, SippRun]:
    agent_port = free_port()
    agent = run_sipp(
        tmp,
        "agent",
        "agent_media.xml",
        server.port,
        "-s",
        "1001",
        "-key",
        "rtp_port",
        str(b.getsockname()[1]),
        "-key",
        "rtp_pt",
        agent_codec[0],
        "-key",
        "rtp_codec",
        agent_codec[1],
        port=agent_port,
    )
    register_agent(tmp, server, "1001", "pw1001", agent_port)
    caller = run_sipp(
        tmp,
        "caller",
        "caller_media.xml",
        server.port,
        "-s",
        "1001",
        "-d",
        str(talk_ms),
        "-key",
        "rtp_port",
        str(a.getsockname()[1]),
    )
    assert wait_event(server, "call_established"), server.log()
    return caller, agent


@pytest.mark.parametrize("agent_codec", [("0", "PCMU"), ("8", "PCMA")])
def test_audio_is_relayed_both_ways_through_the_anchor(
    server: Server, tmp_path: Path, agent_codec: tuple[str, str]
) -> None:
    a, b = udp(), udp()
    with a, b:
        caller, agent = connect(server, tmp_path, a, b, agent_codec)
        time.sleep(0.2)
        to_a = server_media(caller.messages(), "SIP/2.0 200 OK")
        to_b = server_media(agent.messages(), "INVITE sip:")
        assert to_a[1] != to_b[1]  # one port per leg
        frames = tone(440.0)
        send(a, frames, to_a, pt=0)
        got_b = receive(b, FRAMES)
        send(
            b,
            tone(1000.0)
            if agent_codec[1] == "PCMU"
            else [f.translate(ULAW_TO_ALAW) for f in tone(1000.0)],
            to_b,
            pt=int(agent_codec[0]),
        )
        got_a = receive(a, FRAMES)
        assert caller.finish() == 0, caller.explain()
        assert agent.finish() == 0, agent.explain()
    assert len(got_b) == FRAMES and len(got_a) == FRAMES
    headers = [struct.unpack("!BBHII", p[:12]) for p in got_b]
    assert {h[4] for h in headers} == {headers[0][4]} and headers[0][4] != 4242  # our SSRC
    assert [(h[2] - headers[0][2]) & 0xFFFF for h in headers] == list(range(FRAMES))
    assert {h[1] & 0x7F for h in headers} == {int(agent_codec[0])}
    expected_b = frames if agent_codec[1] == "PCMU" else [f.translate(ULAW_TO_ALAW) for f in frames]
    assert [p[12:] for p in got_b] == expected_b
    back = tone(1000.0)
    if agent_codec[1] == "PCMA":  # A-law -> µ-law is not the exact inverse of µ-law -> A-law
        back = [f.translate(ULAW_TO_ALAW).translate(ALAW_TO_ULAW) for f in back]
    assert [p[12:] for p in got_a] == back
    assert wait_event(server, "call_cleared", cause="caller_hangup"), server.log()
    check_recording(server, caller_hz=440.0, agent_hz=1000.0)


def check_recording(server: Server, *, caller_hz: float, agent_hz: float) -> None:
    """The call's stereo WAV: the caller's tone on the left, the agent's on the right."""
    deadline = time.monotonic() + 5
    files: list[Path] = []
    while not files and time.monotonic() < deadline:
        files = sorted((server.data_dir / "recordings").rglob("*.wav"))
        time.sleep(0.1)
    assert len(files) == 1, files
    with wave.open(str(files[0])) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    for channel, hz, other in ((0, caller_hz, agent_hz), (1, agent_hz, caller_hz)):
        audio = pcm[:, channel].astype(float)
        assert dominant(audio) == pytest.approx(hz, rel=0.02), (channel, dominant(audio))
        assert band_energy(audio, hz) > 20 * band_energy(audio, other)


def dominant(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.fft.rfftfreq(len(audio), 1 / 8000)[int(np.argmax(spectrum))])


def band_energy(audio: np.ndarray, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / 8000)
    return float(spectrum[(freqs > hz - 20) & (freqs < hz + 20)].sum())


def test_silent_call_is_cleared_by_the_rtp_timeout(tmp_path: Path) -> None:
    from tests.e2e.helpers import server_with

    with server_with(tmp_path, rtp_timeout=1.5) as server:
        a, b = udp(), udp()
        with a, b:
            caller, agent = connect(server, tmp_path, a, b, ("0", "PCMU"))
            assert wait_event(server, "call_cleared", timeout=8), server.log()
            caller.finish(5)
            agent.finish(5)
        (cleared,) = server.events("call_cleared")
        assert "cause=media_timeout" in cleared


def test_a_recording_survives_kill_9_and_is_repaired_at_restart(tmp_path: Path) -> None:
    import os
    import signal
    import sqlite3

    from tests.e2e.conftest import BASE_CONFIG, start_server, stop_server

    config = BASE_CONFIG.format(
        ring_timeout=8, uas_port=free_port(), media_mode="anchor", rtp_timeout=60
    )
    server = start_server(tmp_path, config)
    a, b = udp(), udp()
    with a, b:
        caller, agent = connect(server, tmp_path, a, b, ("0", "PCMU"), talk_ms=15000)
        time.sleep(0.2)
        send(a, tone(440.0) * 3, server_media(caller.messages(), "SIP/2.0 200 OK"), pt=0)
        time.sleep(1.5)  # at least one header rewrite + fsync (every second)
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=5)
        server.log_file.close()  # type: ignore[attr-defined]
        for run in (caller, agent):  # the peers lost their server: stop them now
            run.proc.kill()
            run.finish(5)
    parts = list((server.data_dir / "recordings").rglob("*.wav.part"))
    assert len(parts) == 1, list((server.data_dir / "recordings").rglob("*"))
    restarted = start_server(tmp_path, config)
    try:
        assert restarted.wait_for("repaired"), restarted.log()
        status: list[tuple[str]] = []
        deadline = time.monotonic() + 5
        while status != [("repaired",)] and time.monotonic() < deadline:
            with sqlite3.connect(server.data_dir / "cti.sqlite3") as db:
                status = db.execute("select status from recordings").fetchall()
            time.sleep(0.1)
    finally:
        stop_server(restarted)
    assert status == [("repaired",)], restarted.log()
    (wav_file,) = (server.data_dir / "recordings").rglob("*.wav")
    with wave.open(str(wav_file)) as w:
        frames = w.getnframes()
        pcm = np.frombuffer(w.readframes(frames), dtype=np.int16).reshape(-1, 2)
    assert frames >= 8000  # most of the ~2.4 s sent before the kill is there
    assert dominant(pcm[:, 0].astype(float)) == pytest.approx(440.0, rel=0.02)


def api(server: Server, method: str, path: str, body: object = None) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.request

    from tests.e2e.conftest import api_token

    data = None if body is None else json.dumps(body).encode()
    url = f"http://127.0.0.1:{server.extra['http_port']}{path}"
    auth = {"Authorization": f"Bearer {api_token(server)}"}
    req = urllib.request.Request(url, data=data, method=method, headers=auth)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_recording_is_controlled_and_found_over_the_api(server: Server, tmp_path: Path) -> None:
    a, b = udp(), udp()
    with a, b:
        caller, agent = connect(server, tmp_path, a, b, ("0", "PCMU"))
        (line,) = wait_event(server, "call_established")
        call_id = line.split("call_id=")[1].split()[0]
        status, body = api(
            server, "POST", f"/api/v1/calls/{call_id}/recording", {"action": "pause"}
        )
        assert (status, body["state"]) == (200, "paused"), body
        assert (
            api(server, "POST", f"/api/v1/calls/{call_id}/recording", {"action": "pause"})[0] == 409
        )
        assert (
            api(server, "POST", f"/api/v1/calls/{call_id}/recording", {"action": "explode"})[0]
            == 400
        )
        assert api(server, "POST", "/api/v1/calls/nope/recording", {"action": "stop"})[0] == 404
        status, body = api(
            server, "POST", f"/api/v1/calls/{call_id}/recording", {"action": "resume"}
        )
        assert (status, body["state"]) == (200, "recording"), body
        recording_id = body["recording_id"]
        assert caller.finish() == 0 and agent.finish() == 0
    assert wait_event(server, "call_cleared")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status, body = api(server, "GET", f"/api/v1/recordings?call_id={call_id}")
        if body.get("recordings") and body["recordings"][0]["status"] == "complete":
            break
        time.sleep(0.1)
    (row,) = body["recordings"]
    assert row["id"] == recording_id and row["agent_id"] == "1001" and len(row["sha256"]) == 64
    assert api(server, "GET", "/api/v1/recordings?since=yesterday")[0] == 400


def test_caller_leaves_a_voice_message_for_an_unregistered_agent(tmp_path: Path) -> None:
    import sqlite3

    from tests.e2e.conftest import BASE_CONFIG, start_server, stop_server

    config = BASE_CONFIG.format(
        ring_timeout=8, uas_port=free_port(), media_mode="anchor", rtp_timeout=60
    )
    config = config.replace(
        "routes:\n",
        "routes:\n  - {match: '3\\d{3}', target: "
        "'extension:\\g<0>', voicemail: true, language: en}\n",
    )
    server = start_server(tmp_path, config)
    try:
        with udp() as a:
            caller = run_sipp(
                tmp_path,
                "caller",
                "caller_media.xml",
                server.port,
                "-s",
                "3005",
                "-d",
                "9000",
                "-key",
                "rtp_port",
                str(a.getsockname()[1]),
            )
            assert wait_event(server, "voice_message_started", agent_id="3005", timeout=15), (
                server.log()
            )
            send(a, tone(440.0) * 2, server_media(caller.messages(), "SIP/2.0 200 OK"), pt=0)
            assert caller.finish() == 0, caller.explain()
        assert wait_event(server, "call_cleared", cause="caller_hangup"), server.log()
        rows: list[tuple[str, str, str]] = []
        deadline = time.monotonic() + 5
        while not rows and time.monotonic() < deadline:
            with sqlite3.connect(server.data_dir / "cti.sqlite3") as db:
                rows = db.execute(
                    "select kind, agent_id, path from recordings where status = 'complete'"
                ).fetchall()
            time.sleep(0.1)
    finally:
        stop_server(server)
    ((kind, agent, path),) = rows
    assert (kind, agent) == ("voice_message", "3005")
    with wave.open(path) as w:
        assert w.getnchannels() == 1
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)
    assert dominant(audio) == pytest.approx(440.0, rel=0.02)
