"""RFC 3550 receive statistics: loss with wrap-around, duplicates, reordering, jitter, timeout."""

from __future__ import annotations

import pytest

from cti_server.rtp.packet import parse_rtp
from cti_server.rtp.stats import ReceiveStats
from tests.fixtures.rtp.pcap import SIPP_PCAPS, udp_payloads


def feed(stats: ReceiveStats, seqs: list[int], t0: float = 0.0) -> None:
    """Packets 20 ms apart in both arrival and timestamp: zero jitter."""
    for i, seq in enumerate(seqs):
        stats.update(seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, t0 + 0.02 * i)


def test_clean_stream() -> None:
    s = ReceiveStats()
    feed(s, list(range(1000, 1050)))
    snap = s.snapshot()
    assert (snap["received"], snap["expected"], snap["lost"]) == (50, 50, 0)
    assert snap["jitter"] == pytest.approx(0.0, abs=1e-6)
    assert snap["extended_highest_seq"] == 1049
    assert (snap["duplicates"], snap["out_of_order"]) == (0, 0)


def test_loss_across_sequence_wrap() -> None:
    s = ReceiveStats()
    seqs = [x for x in range(65530, 65546) if x not in (65534, 65536, 65537)]
    feed(s, seqs)
    snap = s.snapshot()
    assert snap["extended_highest_seq"] == 65545  # one cycle + 9
    assert (snap["expected"], snap["received"], snap["lost"]) == (16, 13, 3)
    assert snap["fraction_lost"] == pytest.approx(3 / 16)


def test_duplicates_make_cumulative_loss_negative_but_display_clamps() -> None:
    s = ReceiveStats()
    feed(s, [1, 2, 3, 3, 3, 4])
    snap = s.snapshot()
    assert snap["duplicates"] == 2
    assert snap["received"] == 6 and snap["expected"] == 4
    assert snap["cumulative_lost"] == -2 and snap["lost"] == 0 and snap["fraction_lost"] == 0.0


def test_reordered_packet_fills_its_hole_once() -> None:
    s = ReceiveStats()
    feed(s, [10, 11, 13, 14, 12, 12, 15])
    snap = s.snapshot()
    assert (snap["out_of_order"], snap["duplicates"]) == (1, 1)
    assert snap["expected"] == 6 and snap["cumulative_lost"] == -1


def test_reorder_across_wrap() -> None:
    s = ReceiveStats()
    feed(s, [65534, 0, 65535, 1])
    snap = s.snapshot()
    assert snap["extended_highest_seq"] == 65537
    assert (snap["expected"], snap["lost"], snap["out_of_order"]) == (4, 0, 1)


def test_source_restart_after_big_jump() -> None:
    s = ReceiveStats()
    feed(s, [100, 101, 102])
    s.update(30000, 0, 1.0)  # one wild packet is not believed ...
    assert s.snapshot()["extended_highest_seq"] == 102
    s.update(30001, 160, 1.02)  # ... but two in sequence mean the sender restarted (A.1)
    snap = s.snapshot()
    assert snap["restarts"] == 1
    assert (snap["received"], snap["expected"], snap["extended_highest_seq"]) == (1, 1, 30001)


def test_jitter_converges_per_a8() -> None:
    s = ReceiveStats()
    # Every other packet arrives 10 ms late: |D| = 80 timestamp units on every packet but the first.
    for i in range(400):
        s.update(i, i * 160, i * 0.02 + (0.01 if i % 2 else 0.0))
    assert s.jitter == pytest.approx(80.0, rel=1e-3)
    assert s.snapshot()["jitter_ms"] == pytest.approx(10.0, rel=1e-3)


def test_jitter_first_step_and_timestamp_wrap() -> None:
    s = ReceiveStats()
    s.update(1, 0xFFFFFF60, 0.0)
    s.update(2, 0x00000000, 0.02 + 0.002)  # ts wrapped; arrived 2 ms (16 units) late
    assert s.jitter == pytest.approx(16 / 16)


def test_fraction_lost_interval_for_rtcp() -> None:
    s = ReceiveStats()
    feed(s, [0, 1, 2, 3])
    assert s.fraction_lost_since_last() == 0
    feed(s, [5, 7], t0=1.0)  # expected 4 more, received 2
    assert s.fraction_lost_since_last() == 128  # 50% in 8-bit fixed point
    assert s.fraction_lost_since_last() == 0


def test_timeout() -> None:
    s = ReceiveStats(created_at=10.0)
    assert not s.timed_out(30.0, timeout=30.0) and s.timed_out(40.0, timeout=30.0)
    s.update(1, 0, 50.0)
    assert not s.timed_out(79.9, 30.0) and s.timed_out(80.0, 30.0)
    assert not ReceiveStats().timed_out(1e9, 30.0)
    assert ReceiveStats().snapshot()["extended_highest_seq"] is None


@pytest.mark.skipif(not (SIPP_PCAPS / "g711a.pcap").exists(), reason="sip-tester not installed")
def test_sipp_capture() -> None:
    s = ReceiveStats()
    for at, datagram in udp_payloads(SIPP_PCAPS / "g711a.pcap"):
        pkt = parse_rtp(datagram)
        s.update(pkt.sequence, pkt.timestamp, at)
    snap = s.snapshot()
    assert snap["received"] == snap["expected"] == 236
    assert snap["lost"] == 0 and snap["duplicates"] == 0
    assert 0.0 <= snap["jitter_ms"] < 5.0
