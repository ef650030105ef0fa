"""The record journal on its own: append, replay, torn lines, checkpoint, compaction.

A journal reopened without ``close`` is what a new process sees after ``kill -9``: lines written
with ``write`` are in the page cache, so they read back whether or not they were fsynced.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from cti_server.storage import journal as journal_module
from cti_server.storage.journal import CHECKPOINT, Journal, JournalClosed


def _segments(path: Path) -> list[Path]:
    return sorted(path.glob("segment-*.jsonl"))


def _payload(i: int) -> dict[str, object]:
    return {"call_id": f"call-{i}", "started_at": 1_790_000_000.0 + i, "caller": "010 1234", "i": i}


def test_append_returns_growing_seqs_and_writes_one_line_each(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    seqs = [journal.append("call_record", f"call-{i}", _payload(i)) for i in range(3)]
    assert seqs == [1, 2, 3]
    (segment,) = _segments(tmp_path)
    lines = segment.read_bytes().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3]
    assert json.loads(lines[1])["payload"] == _payload(1)
    assert journal.pending_count == 3
    assert journal.unsynced_bytes == segment.stat().st_size
    journal.close()


def test_a_new_process_sees_every_entry_whose_append_returned(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    for i in range(5):
        first.append("queue_event", f"call-{i}", {"queue": "sales", "i": i})
    # no sync, no close: the process dies here

    second = Journal(tmp_path)
    pending = second.pending()
    assert [e.seq for e in pending] == [1, 2, 3, 4, 5]
    assert [e.payload["i"] for e in pending] == [0, 1, 2, 3, 4]
    assert {e.kind for e in pending} == {"queue_event"}
    assert second.journal_id == first.journal_id
    assert pending[0].entry_key == f"queue_event:{first.journal_id}:1"
    assert second.append("queue_event", "call-5", {"i": 5}) == 6  # never reuses a seq
    assert second.synced_seq == 5  # what was read back was fsynced on the way
    second.close()


def test_journal_ids_differ_between_journals(tmp_path: Path) -> None:
    a, b = Journal(tmp_path / "a"), Journal(tmp_path / "b")
    assert a.journal_id != b.journal_id
    a.close()
    b.close()


def test_pending_with_upto_and_limit(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for i in range(10):
        journal.append("call_record", str(i), {"i": i})
    assert [e.seq for e in journal.pending(upto=4)] == [1, 2, 3, 4]
    assert [e.seq for e in journal.pending(limit=3)] == [1, 2, 3]
    assert [e.seq for e in journal.pending(upto=8, limit=20)] == list(range(1, 9))
    journal.close()


def test_sync_advances_synced_seq(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append("call_record", "a", {})
    journal.append("call_record", "b", {})
    assert journal.synced_seq == 0
    assert journal.sync() == 2
    assert journal.synced_seq == 2
    assert journal.unsynced_bytes == 0
    journal.close()


def test_checkpoint_survives_a_restart(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for i in range(6):
        journal.append("call_record", str(i), {"i": i})
    journal.sync()
    journal.mark_committed(4)
    assert [e.seq for e in journal.pending()] == [5, 6]
    state = json.loads((tmp_path / CHECKPOINT).read_text())
    assert state == {"journal_id": journal.journal_id, "committed": 4}
    assert not list(tmp_path.glob("*.tmp"))

    again = Journal(tmp_path)
    assert [e.seq for e in again.pending()] == [5, 6]
    assert again.committed_seq == 4
    again.mark_committed(6)
    assert Journal(tmp_path).pending() == []


def test_mark_committed_never_goes_back_or_past_the_end(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append("call_record", "a", {})
    journal.append("call_record", "b", {})
    journal.mark_committed(2)
    journal.mark_committed(1)
    assert journal.committed_seq == 2
    with pytest.raises(ValueError, match="never appended"):
        journal.mark_committed(3)
    journal.close()


def test_a_torn_last_line_is_skipped_counted_and_never_glued_to(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    for i in range(3):
        first.append("call_record", str(i), {"i": i})
    (segment,) = _segments(tmp_path)
    with segment.open("ab") as f:  # the crash cut the fourth write short
        f.write(b'{"seq":4,"kind":"call_record","key":"3","payl')

    second = Journal(tmp_path)
    assert second.torn_lines == 1
    assert [e.seq for e in second.pending()] == [1, 2, 3]
    assert second.append("call_record", "4", {"i": 4}) == 4
    assert len(_segments(tmp_path)) == 2  # the torn segment is never appended to

    third = Journal(tmp_path)
    assert third.torn_lines == 1
    assert [e.payload["i"] for e in third.pending()] == [0, 1, 2, 4]


def test_garbage_lines_in_the_middle_are_skipped(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    first.append("call_record", "a", {"i": 0})
    (segment,) = _segments(tmp_path)
    with segment.open("ab") as f:
        f.write(b"\x00\x00\x00\n{}\n")
    first.append("call_record", "b", {"i": 1})

    second = Journal(tmp_path)
    assert second.torn_lines == 2
    assert [e.key for e in second.pending()] == ["a", "b"]


def test_an_unreadable_checkpoint_stops_the_start(tmp_path: Path) -> None:
    Journal(tmp_path).close()
    (tmp_path / CHECKPOINT).write_text("{not json")
    with pytest.raises(ValueError, match="unreadable journal checkpoint"):
        Journal(tmp_path)


def test_a_payload_json_cannot_carry_is_refused_before_writing(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    with pytest.raises(ValueError):
        journal.append("call_record", "a", {"mos": float("nan")})
    assert journal.append("call_record", "b", {}) == 1
    journal.close()


def test_append_after_close(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.close()
    with pytest.raises(JournalClosed):
        journal.append("call_record", "a", {})


def test_compaction_deletes_committed_segments(tmp_path: Path) -> None:
    journal = Journal(tmp_path, rotate_bytes=10_000, max_segment_bytes=400)
    for i in range(18):  # about 4 lines a segment: the last one holds 2
        journal.append("call_record", str(i), _payload(i))
    segments = _segments(tmp_path)
    assert len(segments) > 3
    assert segments[-1].stat().st_size < 400
    journal.sync()
    first_of_last = json.loads(segments[-1].read_bytes().splitlines()[0])["seq"]

    journal.mark_committed(first_of_last - 1)  # every closed segment is in SQL
    assert _segments(tmp_path) == segments[-1:]
    assert journal.pending()[0].seq == first_of_last

    journal.mark_committed(18)  # the current segment is small: kept, appended to
    assert _segments(tmp_path) == segments[-1:]
    journal.append("call_record", "18", {})
    assert _segments(tmp_path) == segments[-1:]
    journal.close()


def test_a_fully_committed_big_segment_is_replaced(tmp_path: Path) -> None:
    journal = Journal(tmp_path, rotate_bytes=500)
    for i in range(10):
        journal.append("call_record", str(i), _payload(i))
    (old,) = _segments(tmp_path)
    journal.sync()
    journal.mark_committed(10)
    journal.sync()  # closes the retired segment's descriptor
    assert _segments(tmp_path) == []
    journal.append("call_record", "10", {})
    (new,) = _segments(tmp_path)
    assert new.name > old.name
    journal.close()
    assert [e.seq for e in Journal(tmp_path).pending()] == [11]


def test_an_earlier_runs_committed_segments_go_at_start(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    first.append("call_record", "a", {})
    first.mark_committed(1)  # small: stays as the current segment
    assert len(_segments(tmp_path)) == 1
    Journal(tmp_path).close()
    assert _segments(tmp_path) == []


def test_a_failed_write_moves_on_to_a_new_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path)
    journal.append("call_record", "a", {"i": 0})
    real_write = os.write
    calls = []

    def half_then_full(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        journal.append("call_record", "b", {"i": 1})
    monkeypatch.setattr(journal_module.os, "write", real_write)
    assert journal.append("call_record", "c", {"i": 2}) == 2
    assert len(_segments(tmp_path)) == 2
    journal.sync()

    again = Journal(tmp_path)
    assert again.torn_lines == 1
    assert [e.key for e in again.pending()] == ["a", "c"]


def test_remembered_entries_are_pending_but_not_on_disk(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append("call_record", "a", {})
    assert journal.remember("call_record", "b", {}) == 2
    assert [e.key for e in journal.pending()] == ["a", "b"]
    assert journal.sync() == 2
    journal.close()
    assert [e.key for e in Journal(tmp_path).pending()] == ["a"]
