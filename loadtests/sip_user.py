"""A tiny SIP caller (UAC) over plain UDP sockets, for locust users and plain scripts alike.

Stdlib only, no threads and no Twisted: one call is two non-blocking sockets (SIP, RTP) and a
``select`` loop, which locust's gevent patches into a cooperative wait, so hundreds of calls
share one process. It does what a trunk caller does and no more: INVITE with an SDP offer of
PCMU + telephone-event/101 (no digest: the server's trunk accepts 127.0.0.1), 1xx, 200, ACK;
20 ms PCMU frames from answer to hang-up; RFC 4733 key events (160 ms each, three end
packets, 250 ms between keys, as ``cti_server.sipp_caller`` writes them for SIPp); answers the
server's BYE, re-INVITE or OPTIONS; BYE. Timers follow RFC 3261 §17.1 (T1 = 500 ms), bounded.

How it knows an agent is on the line: every audio frame it sends carries a marker (``LoCu`` +
a per-call token) in its first bytes, otherwise µ-law silence. Prompts and music on hold never
carry it; once the call is bridged, the agent's echo (SIPp ``-rtp_echo``) sends the frames
back through the server, and the first marked frame to arrive is the moment the caller could
hear the agent.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
KEY_MS, KEY_GAP_MS = 160, 250
PCMU, TELEPHONE_EVENT = 0, 101
FRAME = 0.02
MARK = b"LoCu"
T1 = 0.5
COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
}


class CallError(Exception):
    """Why a call failed; the text is stable (no ids) so locust groups failures by it."""


@dataclass
class SipMessage:
    first_line: str
    headers: list[tuple[str, str]]  # (lower-case long name, value), in order
    body: bytes

    @property
    def status(self) -> int | None:
        parts = self.first_line.split(" ", 2)
        return int(parts[1]) if parts[0] == "SIP/2.0" and parts[1].isdigit() else None

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0]

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k == name), "")

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


def parse_message(data: bytes) -> SipMessage | None:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            key = name.strip().lower()
            headers.append((COMPACT.get(key, key), value.strip()))
    return SipMessage(lines[0], headers, body)


def parse_sdp(body: bytes) -> tuple[str, int] | None:
    """(address, port) of the first audio stream (the last c= line before or in it wins)."""
    host, port = "", 0
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("c=IN IP4 "):
            host = line.split()[2]
        elif line.startswith("m=audio ") and not port:
            port = int(line.split()[1])
        elif line.startswith("m=") and port:
            break
    return (host, port) if host and port else None


def uri_of(value: str) -> str:
    """The URI in a Contact or Record-Route value (``<sip:...>;params`` or bare)."""
    if "<" in value:
        return value[value.index("<") + 1 : value.index(">")]
    return value.split(";", 1)[0].strip()


class SipCall:
    """One outbound call: ``invite``, ``hold``/``press``/``wait_for_agent``, ``hangup``."""

    def __init__(
        self,
        server: tuple[str, int],
        called: str,
        caller: str,
        *,
        local_ip: str = "127.0.0.1",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server, self.called, self.caller, self.clock = server, called, caller, clock
        self.sip = self._socket(local_ip)
        self.rtp = self._socket(local_ip)
        self.local_ip = local_ip
        ids = os.urandom(16).hex()
        self.call_id, self.tag, self.token = f"{ids[:16]}@{local_ip}", ids[16:26], os.urandom(4)
        self.remote_tag = ""
        self.target = f"sip:{called}@{server[0]}:{server[1]}"
        self.routes: list[str] = []
        self.remote_rtp: tuple[str, int] | None = None
        self.invited_at: float | None = None
        self.answered_at: float | None = None
        self.server_bye_at: float | None = None
        self.echo_at: float | None = None
        self.rtp_received = 0
        self.final: SipMessage | None = None
        self._cseq = 1
        self._tx: tuple[str, bytes] | None = None  # (branch, request) being retransmitted
        self._tx_until = self._tx_interval = self._tx_next = 0.0
        self._ack = b""
        self._out: deque[tuple[float, bytes]] = deque()
        self._seq, self._ts0, self._ssrc = struct.unpack("!HII", os.urandom(10))
        self._t0 = self._next_audio = 0.0
        self._audio = False

    @staticmethod
    def _socket(ip: str) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((ip, 0))
        sock.setblocking(False)
        return sock

    # --- the call, step by step --------------------------------------------------------------

    def invite(self, timeout: float = 10.0) -> float:
        """Seconds from INVITE to 200 OK; raises CallError on a final error or no answer."""
        started = self.invited_at = self.clock()
        rtp_port = self.rtp.getsockname()[1]
        sdp = (
            f"v=0\r\no=- {self._ssrc} 1 IN IP4 {self.local_ip}\r\ns=-\r\n"
            f"c=IN IP4 {self.local_ip}\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP {PCMU} {TELEPHONE_EVENT}\r\n"
            f"a=rtpmap:{PCMU} PCMU/8000\r\na=rtpmap:{TELEPHONE_EVENT} telephone-event/8000\r\n"
            f"a=fmtp:{TELEPHONE_EVENT} 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
        )
        self._request("INVITE", sdp, timeout)
        self._run(started + timeout, lambda: self.final is not None)
        final = self.final
        if final is None:
            raise CallError(f"no final answer to INVITE within {timeout:g} s")
        status = final.status or 0
        if status >= 300:
            raise CallError(f"INVITE answered {final.first_line[8:]}")
        return (self.answered_at or self.clock()) - started

    def hold(self, seconds: float) -> None:
        """Stay on the line (sending audio) for ``seconds`` or until the server hangs up."""
        self._run(self.clock() + seconds, lambda: self.server_bye_at is not None)

    def press(self, keys: str) -> None:
        """Type ``keys`` as RFC 4733 events, returning when the last one (and its gap) is done."""
        start = max(self.clock(), self._next_audio)
        at = start
        for key in keys:
            if key not in EVENTS:
                raise ValueError(f"key {key!r}: use 0-9, * or #")
            ts = self._ts0 + round((at - self._t0) * 8000)
            steps = KEY_MS // 20
            for i in range(steps + 2):  # the last step three times, with the E bit (§2.5.1.4)
                end = 0x80 if i >= steps - 1 else 0
                payload = struct.pack("!BBH", EVENTS[key], end | 10, min(i + 1, steps) * 160)
                marker = 0x80 if i == 0 else 0
                packet = self._rtp(TELEPHONE_EVENT | marker, ts, payload)
                self._out.append((at + min(i, steps - 1) * FRAME, packet))
            at += (KEY_MS + KEY_GAP_MS) / 1000
        self._next_audio = at
        self._run(at, lambda: self.server_bye_at is not None)

    def wait_for_agent(self, timeout: float) -> float | None:
        """Talk until our own marked audio comes back (an agent's echo); its time, or None."""
        self._run(
            self.clock() + timeout,
            lambda: self.echo_at is not None or self.server_bye_at is not None,
        )
        return self.echo_at

    def hangup(self, timeout: float = 8.0) -> None:
        """BYE and its 200; nothing when the server hung up first."""
        self._audio = False
        if self.server_bye_at is not None or self.answered_at is None:
            return
        self.final = None
        self._request("BYE", "", timeout)
        self._run(self.clock() + timeout, lambda: self.final is not None)
        if self.final is None:
            raise CallError(f"no answer to BYE within {timeout:g} s")
        if (self.final.status or 0) >= 300:
            raise CallError(f"BYE answered {self.final.first_line[8:]}")

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    # --- the loop ----------------------------------------------------------------------------

    def _run(self, until: float, done: Callable[[], bool]) -> None:
        """Send due RTP and retransmissions, read both sockets, until ``done()`` or ``until``."""
        while not done():
            now = self.clock()
            if now >= until:
                return
            wake = until
            while self._out and self._out[0][0] <= now:
                self._send_rtp(self._out.popleft()[1])
            if self._out:
                wake = min(wake, self._out[0][0])
            elif self._audio:
                if self._next_audio <= now:
                    self._send_audio(now)
                wake = min(wake, self._next_audio)
            if self._tx is not None:
                if now >= self._tx_until:
                    self._tx = None
                elif now >= self._tx_next:
                    self.sip.sendto(self._tx[1], self.server)
                    self._tx_interval = min(2 * self._tx_interval, 4.0)  # T2
                    self._tx_next = now + self._tx_interval
                if self._tx is not None:
                    wake = min(wake, self._tx_next)
            readable, _, _ = select.select([self.sip, self.rtp], [], [], max(0.0, wake - now))
            if self.rtp in readable:
                self._read_rtp()
            if self.sip in readable:
                self._read_sip()

    def _read_rtp(self) -> None:
        while True:
            try:
                data = self.rtp.recv(2048)
            except BlockingIOError:
                return
            self.rtp_received += 1
            if self.echo_at is None and len(data) > 20:
                offset = 12 + 4 * (data[0] & 0x0F)
                if data[0] & 0x10 and len(data) >= offset + 4:  # header extension
                    offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
                if data[offset : offset + 8] == MARK + self.token:
                    self.echo_at = self.clock()

    def _read_sip(self) -> None:
        while True:
            try:
                data, addr = self.sip.recvfrom(65535)
            except BlockingIOError:
                return
            msg = parse_message(data)
            if msg is None:
                continue
            if msg.status is None:
                self._on_request(msg, addr)
            else:
                self._on_response(msg)

    def _on_response(self, msg: SipMessage) -> None:
        status = msg.status or 0
        cseq = msg.header("cseq").split()
        if len(cseq) != 2:
            return
        if cseq[1] == "INVITE" and self._ack and status < 300:  # a retransmitted 200
            self.sip.sendto(self._ack, self.server)
            return
        branch = self._tx[0] if self._tx else ""
        if not branch or f"branch={branch}" not in msg.header("via"):
            return
        if status < 200:
            if cseq[1] == "INVITE":  # RFC 3261 §17.1.1.2: a provisional stops Timer A
                self._tx_next = self._tx_until
            return
        self._tx = None
        self.final = msg
        if cseq[1] != "INVITE":
            return
        to = msg.header("to")
        self.remote_tag = to.split("tag=", 1)[1].split(";", 1)[0] if "tag=" in to else ""
        if status >= 300:  # the ACK of a failure is part of the INVITE transaction
            self.sip.sendto(self._message("ACK", branch, "", cseq_no=1), self.server)
            return
        self.answered_at = self.clock()
        self.target = uri_of(msg.header("contact")) or self.target
        self.routes = [uri_of(r) for v in reversed(msg.all("record-route")) for r in v.split(",")]
        self.remote_rtp = parse_sdp(msg.body)
        self._ack = self._message("ACK", self._branch(), "", cseq_no=1)
        self.sip.sendto(self._ack, self.server)
        self._audio = self.remote_rtp is not None
        self._t0 = self._next_audio = self.answered_at

    def _on_request(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        if msg.method == "ACK":
            return
        body = ""
        if msg.method == "BYE":
            self.server_bye_at = self.clock()
            self._audio = False
            self._out.clear()
        elif msg.method == "INVITE":  # a re-INVITE: keep talking, to wherever it says
            self.remote_rtp = parse_sdp(msg.body) or self.remote_rtp
            port = self.rtp.getsockname()[1]
            body = (
                f"v=0\r\no=- {self._ssrc} 2 IN IP4 {self.local_ip}\r\ns=-\r\n"
                f"c=IN IP4 {self.local_ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n"
                "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
            )
        lines = ["SIP/2.0 200 OK"]
        lines += [f"Via: {v}" for v in msg.all("via")]
        lines += [f"From: {msg.header('from')}", f"To: {msg.header('to')}"]
        lines += [f"Call-ID: {msg.header('call-id')}", f"CSeq: {msg.header('cseq')}"]
        if body:
            port = self.sip.getsockname()[1]
            lines += [f"Contact: <sip:{self.caller}@{self.local_ip}:{port}>"]
            lines += ["Content-Type: application/sdp"]
        lines += [f"Content-Length: {len(body)}", "", body]
        self.sip.sendto("\r\n".join(lines).encode(), addr)

    # --- building messages and packets -------------------------------------------------------

    @staticmethod
    def _branch() -> str:
        return "z9hG4bK" + os.urandom(8).hex()

    def _request(self, method: str, body: str, timeout: float) -> None:
        if method != "INVITE":
            self._cseq += 1
        branch = self._branch()
        data = self._message(method, branch, body, cseq_no=self._cseq)
        self.sip.sendto(data, self.server)
        now = self.clock()
        self._tx = (branch, data)
        self._tx_interval = T1
        self._tx_next, self._tx_until = now + T1, now + timeout

    def _message(self, method: str, branch: str, body: str, *, cseq_no: int) -> bytes:
        port = self.sip.getsockname()[1]
        to_tag = f";tag={self.remote_tag}" if self.remote_tag else ""
        lines = [
            f"{method} {self.target} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.local_ip}:{port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.caller}@{self.local_ip}>;tag={self.tag}",
            f"To: <sip:{self.called}@{self.server[0]}>{to_tag}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq_no} {method}",
            *(f"Route: <{r}>" for r in self.routes if method != "INVITE"),
            f"Contact: <sip:{self.caller}@{self.local_ip}:{port}>",
            "User-Agent: cti-loadtest",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines += [f"Content-Length: {len(body.encode())}", "", body]
        return "\r\n".join(lines).encode()

    def _rtp(self, marker_pt: int, ts: int, payload: bytes) -> bytes:
        self._seq = (self._seq + 1) & 0xFFFF
        head = struct.pack("!BBHII", 0x80, marker_pt, self._seq, ts & 0xFFFFFFFF, self._ssrc)
        return head + payload

    def _send_audio(self, now: float) -> None:
        if now - self._next_audio > 0.2:  # we were starved (a busy load generator): resync
            self._next_audio = now
        ts = self._ts0 + round((self._next_audio - self._t0) * 8000)
        frame = MARK + self.token + struct.pack("!H", self._seq) + b"\xff" * 150
        self._send_rtp(self._rtp(PCMU, ts, frame))
        self._next_audio += FRAME

    def _send_rtp(self, packet: bytes) -> None:
        if self.remote_rtp is not None:
            try:
                self.rtp.sendto(packet, self.remote_rtp)
            except OSError:  # ICMP unreachable from an earlier packet: keep the call going
                return
