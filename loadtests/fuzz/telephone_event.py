"""Fuzz target ``dtmf``: RFC 4733 telephone-events, parsed and fed to ``DtmfReceiver``.

An input is a packet stream: 10-octet records (op, time step, RTP timestamp, 4-octet event
payload; a short tail is a truncated payload) up front, and the receiver's and sender's
settings at the end, read with ``atheris.FuzzedDataProvider`` (which takes integers from the
end of the data, so the records keep their place as the fuzzer grows or shrinks them).

Accepted: ``DtmfError`` from ``parse_telephone_event`` (payloads under 4 octets only) and from
``DtmfSender`` (a non-digit or a volume out of 0-63). Checked besides: the receiver emits only
DTMF digits, at most one per RTP timestamp it was fed, never raises on any payload, and its
deadline is None exactly when no event is open; the sender's packets parse back to its digit,
the end bit on the last three only.
"""

from __future__ import annotations

import struct

import atheris

from loadtests.fuzz.common import SIPP_PCAPS, fuzz_main

with atheris.instrument_imports(include=["cti_server"]):
    from cti_server.rtp.dtmf import (
        DIGITS,
        DtmfError,
        DtmfReceiver,
        DtmfSender,
        parse_telephone_event,
    )

RECORD = struct.Struct("!BBI4s")  # op (3: timer tick), time step (ms), RTP timestamp, payload


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    max_digits, end_timeout, digit, duration, volume = _settings(provider)
    _receive(provider.ConsumeBytes(provider.remaining_bytes()), max_digits, end_timeout)
    _send(digit, duration, volume)


def _settings(provider: atheris.FuzzedDataProvider) -> tuple[int, float, str, int, int]:
    max_digits = provider.ConsumeIntInRange(1, 40)
    end_timeout = provider.ConsumeIntInRange(1, 2000) / 1000
    digit = (DIGITS + "xE9 ")[provider.ConsumeIntInRange(0, 19)]
    duration = provider.ConsumeIntInRange(-100, 20000)
    volume = provider.ConsumeIntInRange(-2, 70)
    return max_digits, end_timeout, digit, duration, volume


def _receive(stream: bytes, max_digits: int, end_timeout: float) -> None:
    receiver = DtmfReceiver(end_timeout=end_timeout, max_digits=max_digits)
    now = 0.0
    runs = 0  # runs of one RTP timestamp among whole payloads: each is at most one digit
    last_ts: int | None = None
    emitted: list[str] = []
    for offset in range(0, len(stream), RECORD.size):
        chunk = stream[offset : offset + RECORD.size]
        head = chunk[:6].ljust(6, b"\x00")
        op, step, ts, payload = head[0], head[1], int.from_bytes(head[2:6], "big"), chunk[6:]
        now += step / 1000
        if op & 3 == 3:
            emitted += receiver.on_timer(now)
            continue
        _parse(payload)
        if len(payload) >= 4 and ts != last_ts:
            runs += 1
            last_ts = ts
        emitted += receiver.feed(ts, offset, payload, now)
    emitted += receiver.on_timer(now + 3600)
    if receiver.next_deadline() is not None:
        raise AssertionError("an event is still open after its deadline")
    if any(d not in DIGITS for d in emitted) or len(emitted) > runs:
        raise AssertionError(f"{emitted!r} from {runs} timestamp runs")


def _parse(payload: bytes) -> None:
    try:
        event = parse_telephone_event(payload)
    except DtmfError:
        if len(payload) >= 4:
            raise
        return
    if not (0 <= event.event <= 255 and 0 <= event.volume <= 63 and 0 <= event.duration < 65536):
        raise AssertionError(f"field out of range: {event!r}")


def _send(digit: str, duration: int, volume: int) -> None:
    try:
        packets = DtmfSender().packets_for_digit(digit, duration, volume)
    except DtmfError:
        if digit.upper() in DIGITS and 0 <= volume <= 63:
            raise
        return
    events = [parse_telephone_event(payload) for payload, _, _ in packets]
    if any(e.event != DIGITS.index(digit.upper()) or e.volume != volume for e in events):
        raise AssertionError(f"sender packets {events!r} for {digit!r}")
    if [e.end for e in events[-3:]] != [True] * 3 or any(e.end for e in events[:-3]):
        raise AssertionError(f"end bits wrong: {events!r}")


def seeds() -> list[bytes]:
    """The RFC 2833 events of SIPp's DTMF captures as records, one capture per seed."""
    settings = bytes([10, 3, 0, 250, 10, 20, 5])  # what _settings takes, from the end
    out: list[bytes] = []
    if SIPP_PCAPS.is_dir():
        from tests.fixtures.rtp.pcap import udp_payloads

        for path in sorted(SIPP_PCAPS.glob("dtmf_2833_*.pcap")):
            records = b""
            for _, packet in udp_payloads(path):
                if len(packet) >= 16 and packet[1] & 0x7F >= 96:  # a dynamic (event) type
                    ts = struct.unpack_from("!I", packet, 4)[0]
                    records += RECORD.pack(0, 20, ts, packet[12:16])
            if records:
                out.append(records + settings)
    end = bytes.fromhex("0b8a08c0")
    out.append(RECORD.pack(0, 20, 8000, bytes.fromhex("0b0a00a0")) + RECORD.pack(0, 20, 8000, end)
               + RECORD.pack(3, 250, 0, b"\0" * 4) + b"\x01\x0a" + settings)  # fmt: skip
    return out


def main() -> None:
    fuzz_main("dtmf", test_one_input, seeds(), max_len=1024)


if __name__ == "__main__":
    main()
