"""Appends records to a journal until it is killed (the ``kill -9`` test's child process).

Usage: ``python journal_child.py DIRECTORY COUNT [hold]``; ``hold`` keeps the journal open
until killed once COUNT entries are in. After each ``append`` returns, the child
writes ``<seq> <index>`` to stdout, so the parent knows which appends certainly returned (at
most one more may have returned without its line). Plain Python: no reactor, no database.
"""

from __future__ import annotations

import sys
import time

from cti_server.storage.journal import Journal

KINDS = ("call_record", "queue_event", "agent_state")
EPOCH = 1_795_000_000.0


def payload(i: int, kind: str) -> dict[str, object]:
    at = EPOCH + i
    if kind == "call_record":
        return {"call_id": f"call-{i}", "started_at": at, "ended_at": at + 30, "caller": "0101",
                "called": "1588", "cause": "normal_clearing", "i": i}  # fmt: skip
    if kind == "queue_event":
        return {"queue": "sales", "kind": "joined", "at": at, "call_id": f"call-{i}", "i": i}
    return {"agent_id": f"agent-{i}", "state": "ready", "at": at}


def main() -> None:
    journal = Journal(sys.argv[1])
    for i in range(int(sys.argv[2])):
        kind = KINDS[i % 3]
        seq = journal.append(kind, f"k{i}", payload(i, kind))
        sys.stdout.write(f"{seq} {i}\n")
        sys.stdout.flush()
    if sys.argv[3:] == ["hold"]:
        time.sleep(60)


if __name__ == "__main__":
    main()
