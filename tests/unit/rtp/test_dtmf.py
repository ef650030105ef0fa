"""RFC 4733 telephone-event receive/send and in-band Goertzel DTMF detection."""

from __future__ import annotations

import random

import numpy as np
import numpy.typing as npt
import pytest

from cti_server.rtp import g711
from cti_server.rtp.dtmf import (
    COL_FREQS,
    KEYPAD,
    ROW_FREQS,
    DtmfError,
    DtmfReceiver,
    DtmfSender,
    InbandDetector,
    ToneEvent,
    parse_telephone_event,
)
from cti_server.rtp.packet import parse_rtp
from tests.fixtures.rtp.pcap import SIPP_PCAPS, udp_payloads

SIPP_DTMF = {
    **{f"dtmf_2833_{d}.pcap": d for d in "0123456789"},
    "dtmf_2833_star.pcap": "*",
    "dtmf_2833_pound.pcap": "#",
}


def event(code: int, end: bool = False, duration: int = 160, volume: int = 10) -> bytes:
    return bytes([code, (0x80 if end else 0) | volume]) + duration.to_bytes(2, "big")


def one_event(code: int, ts: int, seq: int, updates: int = 4) -> list[tuple[int, int, bytes]]:
    """(timestamp, seq, payload) as a sender would emit them: updates then three end packets."""
    pkts = [(ts, seq + i, event(code, duration=160 * (i + 1))) for i in range(updates)]
    end = event(code, end=True, duration=160 * (updates + 1))
    return pkts + [(ts, seq + updates + i, end) for i in range(3)]


def feed_all(rx: DtmfReceiver, pkts: list[tuple[int, int, bytes]], t0: float = 0.0) -> list[str]:
    out: list[str] = []
    for i, (ts, seq, payload) in enumerate(pkts):
        out += rx.feed(ts, seq, payload, t0 + 0.02 * i)
    return out


class TestTelephoneEvent:
    def test_parse_fields(self) -> None:
        assert parse_telephone_event(bytes.fromhex("0b8a08c0")) == ToneEvent(11, True, 10, 2240)
        assert parse_telephone_event(bytes.fromhex("01 3f 0000")) == ToneEvent(1, False, 63, 0)

    def test_short_payload_raises(self) -> None:
        with pytest.raises(DtmfError):
            parse_telephone_event(b"\x01\x0a\x00")


class TestDtmfReceiver:
    def test_redundant_end_packets_count_once(self) -> None:
        rx = DtmfReceiver()
        out = [rx.feed(ts, seq, p, 0.02 * i) for i, (ts, seq, p) in enumerate(one_event(5, 800, 1))]
        assert out == [[], [], [], [], ["5"], [], []]
        assert rx.next_deadline() is None

    def test_reordered_and_duplicated_packets_never_double(self) -> None:
        rng = random.Random(7)
        for _ in range(50):
            pkts = one_event(9, 1600, 100) * 2
            rng.shuffle(pkts)
            rx = DtmfReceiver()
            out = feed_all(rx, pkts) + rx.on_timer(100.0)
            assert out == ["9"]

    def test_same_digit_twice_is_two_events(self) -> None:
        pkts = one_event(1, 8000, 1) + one_event(1, 9600, 8)
        assert feed_all(DtmfReceiver(), pkts) == ["1", "1"]

    def test_straggler_of_previous_event_is_ignored(self) -> None:
        rx = DtmfReceiver()
        first, second = one_event(1, 8000, 1), one_event(2, 9600, 8)
        out = feed_all(rx, first[:5] + second[:2] + first[5:] + second[2:])
        assert out == ["1", "2"]

    def test_lost_end_packets_emit_after_timeout(self) -> None:
        rx = DtmfReceiver(end_timeout=0.25)
        assert feed_all(rx, one_event(0xB, 4000, 1)[:4]) == []  # last update at t=0.06
        assert rx.next_deadline() == pytest.approx(0.31)
        assert rx.on_timer(0.30) == []
        assert rx.on_timer(0.31) == ["#"]
        assert rx.next_deadline() is None
        assert rx.on_timer(1.0) == []
        # The end packets arriving even later do not bring the digit back.
        assert feed_all(rx, one_event(0xB, 4000, 1)[4:], t0=1.0) == []

    def test_new_timestamp_closes_an_event_without_end(self) -> None:
        rx = DtmfReceiver()
        assert feed_all(rx, one_event(3, 100, 1)[:2]) == []
        assert rx.feed(1700, 3, event(4), 0.1) == ["3"]
        assert rx.feed(1700, 4, event(4, end=True), 0.12) == ["4"]

    def test_timestamp_wraparound(self) -> None:
        pkts = one_event(7, 0xFFFFFF00, 65530) + one_event(8, 0x100, 65537)
        assert feed_all(DtmfReceiver(), pkts) == ["7", "8"]

    def test_all_sixteen_digits_and_ignored_events(self) -> None:
        rx = DtmfReceiver(max_digits=100)
        out: list[str] = []
        for code in range(20):
            out += feed_all(rx, one_event(code, 1000 * (code + 1), 10 * code), t0=code * 0.2)
        assert "".join(out) == "0123456789*#ABCD"
        assert rx.ignored == 4

    def test_malformed_payload_is_counted(self) -> None:
        rx = DtmfReceiver()
        assert rx.feed(1, 1, b"\x01", 0.0) == []
        assert rx.malformed == 1

    def test_flood_is_bounded(self) -> None:
        rx = DtmfReceiver(max_digits=10, flood_window=1.0)
        out: list[str] = []
        for i in range(300):  # 300 complete events in 0.3 s
            out += rx.feed(1000 + 160 * i, i, event(i % 10, end=True), i * 0.001)
        assert len(out) == 10
        assert rx.dropped == 290
        assert rx.feed(999_999, 400, event(1, end=True), 1.5) == ["1"]

    @pytest.mark.parametrize(("name", "digit"), sorted(SIPP_DTMF.items()))
    def test_sipp_rfc2833_capture(self, name: str, digit: str) -> None:
        path = SIPP_PCAPS / name
        if not path.exists():
            pytest.skip("Debian sip-tester pcaps not installed")
        rx = DtmfReceiver()
        out: list[str] = []
        for at, datagram in udp_payloads(path):
            pkt = parse_rtp(datagram)
            assert pkt.payload_type == 101
            out += rx.feed(pkt.timestamp, pkt.sequence, pkt.payload, at)
        assert out == [digit]


class TestDtmfSender:
    def test_packets_for_digit(self) -> None:
        pkts = DtmfSender().packets_for_digit("5", duration_ms=100, volume=10)
        assert [m for _, m, _ in pkts] == [True] + [False] * 6
        assert [d for _, _, d in pkts] == [160, 320, 480, 640, 800, 800, 800]
        events = [parse_telephone_event(p) for p, _, _ in pkts]
        assert {(e.event, e.volume) for e in events} == {(5, 10)}
        assert [e.end for e in events] == [False] * 4 + [True] * 3

    def test_odd_duration_and_letters(self) -> None:
        pkts = DtmfSender().packets_for_digit("d", duration_ms=50)
        assert [d for _, _, d in pkts] == [160, 320, 400, 400, 400]
        assert parse_telephone_event(pkts[0][0]).event == 15

    @pytest.mark.parametrize("bad", ["", "E", "12", "x"])
    def test_bad_digit(self, bad: str) -> None:
        with pytest.raises(DtmfError):
            DtmfSender().packets_for_digit(bad)

    def test_round_trip_through_receiver(self) -> None:
        tx, rx = DtmfSender(), DtmfReceiver()
        out: list[str] = []
        seq = 0
        for n, digit in enumerate("1234567890*#ABCD"):
            for payload, _marker, _duration in tx.packets_for_digit(digit):
                out += rx.feed(10_000 + 4000 * n, seq, payload, seq * 0.02)
                seq += 1
        assert "".join(out) == "1234567890*#ABCD"


# --- in-band -------------------------------------------------------------------------------

FS = 8000


def tone(
    digit: str, ms: float, amp: float = 6000, dev: float = 1.0, twist_db: float = 0.0
) -> npt.NDArray[np.float64]:
    """Row tone at ``amp``, column tone ``twist_db`` below it (negative: above)."""
    r = next(i for i, row in enumerate(KEYPAD) if digit in row)
    c = KEYPAD[r].index(digit)
    t = np.arange(round(ms * FS / 1000)) / FS
    col_amp = amp * 10 ** (-twist_db / 20)
    return amp * np.sin(2 * np.pi * ROW_FREQS[r] * dev * t) + col_amp * np.sin(
        2 * np.pi * COL_FREQS[c] * dev * t + 1.0
    )


def gap(ms: float) -> npt.NDArray[np.float64]:
    return np.zeros(round(ms * FS / 1000))


def detect(signal: npt.NDArray[np.float64], frame: int = 160) -> str:
    pcm = np.clip(np.round(signal), -32768, 32767).astype(np.int16)
    det, out = InbandDetector(), []
    for i in range(0, len(pcm), frame):
        out += det.feed(pcm[i : i + frame], now=i / FS)
    return "".join(out)


def sequence(digits: str, on_ms: float = 60, off_ms: float = 60, **kw: float) -> np.ndarray:
    parts = [gap(30)]
    for d in digits:
        parts += [tone(d, on_ms, **kw), gap(off_ms)]
    return np.concatenate(parts)


class TestInbandDetector:
    def test_digit_sequence_with_gaps(self) -> None:
        assert detect(sequence("1234#")) == "1234#"

    def test_all_digits_any_frame_size_and_through_ulaw(self) -> None:
        sig = sequence("1234567890*#ABCD")
        assert detect(sig) == "1234567890*#ABCD"
        assert detect(sig, frame=37) == "1234567890*#ABCD"
        ulaw = g711.ulaw_encode(np.clip(sig, -32768, 32767).astype(np.int16))
        assert detect(g711.ulaw_decode(ulaw).astype(np.float64)) == "1234567890*#ABCD"

    @pytest.mark.parametrize("snr_db", [20.0, 12.0])
    def test_white_noise_at_reasonable_snr(self, snr_db: float) -> None:
        sig = sequence("1234567890*#ABCD", amp=3000)
        tone_power = 3000**2  # two tones of amplitude A: 2 * A^2 / 2
        noise = np.random.default_rng(42).normal(
            0, np.sqrt(tone_power / 10 ** (snr_db / 10)), len(sig)
        )
        assert detect(sig + noise) == "1234567890*#ABCD"

    @pytest.mark.parametrize("freq", [440.0, 1000.0, 697.0, 1336.0])
    def test_single_tones_are_not_digits(self, freq: float) -> None:
        t = np.arange(FS) / FS
        assert detect(12000 * np.sin(2 * np.pi * freq * t)) == ""

    @pytest.mark.parametrize("pair", [(350, 440), (440, 480), (480, 620), (697, 1000)])
    def test_call_progress_and_off_grid_pairs_are_not_digits(self, pair: tuple[int, int]) -> None:
        t = np.arange(FS) / FS
        assert (
            detect(6000 * (np.sin(2 * np.pi * pair[0] * t) + np.sin(2 * np.pi * pair[1] * t))) == ""
        )

    def test_silence_noise_and_voiced_speech_are_not_digits(self) -> None:
        t = np.arange(2 * FS) / FS
        assert detect(gap(2000)) == ""
        assert detect(np.random.default_rng(1).normal(0, 5000, 5 * FS)) == ""
        for f0 in (100, 120, 150, 210, 300):  # harmonic-rich vowel-like buzz
            buzz = sum(3000 / k * np.sin(2 * np.pi * f0 * k * t + k) for k in range(1, 30))
            assert detect(np.asarray(buzz)) == "", f0

    def test_minimum_duration(self) -> None:
        for offset in range(0, 102, 3):  # 40 ms is found whatever the block alignment
            assert detect(np.concatenate([gap(offset / 8), tone("5", 40), gap(100)])) == "5"
        for offset in range(0, 102, 3):  # 20 ms never is
            assert detect(np.concatenate([gap(offset / 8), tone("5", 20), gap(100)])) == ""

    def test_repeat_needs_a_gap(self) -> None:
        assert detect(np.concatenate([tone("7", 60), gap(40), tone("7", 60), gap(40)])) == "77"
        # A 10 ms dropout inside one key press is not a second press.
        assert detect(np.concatenate([tone("7", 60), gap(10), tone("7", 60), gap(40)])) == "7"

    @pytest.mark.parametrize(
        ("twist_db", "found"), [(7, True), (-3, True), (10, False), (-6, False)]
    )
    def test_twist_limits(self, twist_db: float, found: bool) -> None:
        assert detect(sequence("9", twist_db=twist_db)) == ("9" if found else "")

    @pytest.mark.parametrize(
        ("dev", "found"), [(0.985, True), (1.015, True), (0.95, False), (1.05, False)]
    )
    def test_frequency_tolerance(self, dev: float, found: bool) -> None:
        assert detect(sequence("8", dev=dev)) == ("8" if found else "")

    def test_energy_floor(self) -> None:
        assert detect(sequence("3", amp=150)) == ""
        assert detect(sequence("3", amp=400)) == "3"
        assert detect(sequence("3", amp=16000)) == "3"
