"""``RecordingService.closed``: read by the metrics as an append-only list (its length and its
tail from the last index read), but holding only the newest recordings, so a server running
for months does not keep a summary of every recording it ever made."""

from __future__ import annotations

import pytest

from cti_server.adapters.recording_service import ClosedLog


def test_the_log_counts_every_recording_but_holds_only_the_newest() -> None:
    log = ClosedLog(keep=3)
    assert not log and log[0:] == []
    for n in range(5):
        log.append(n)  # type: ignore[arg-type]
    assert len(log) == 5
    assert list(log) == [2, 3, 4]
    assert log[3:] == [3, 4]  # what a reader that had seen three gets next
    assert log[5:] == []
    assert log[0:] == [2, 3, 4]  # the ones dropped before anyone read them are gone


def test_only_a_tail_can_be_read() -> None:
    log = ClosedLog()
    with pytest.raises(TypeError):
        log[1:2]
