"""FlowBook: a reload swaps the flows for new calls; a call in a flow keeps the version it
started with, so an edit never changes a conversation midway."""

from __future__ import annotations

from ivr_flows.book import FlowBook
from ivr_flows.protocol import Enqueue, Play, PromptFinished
from tests.unit.ivr_flows.driver import MONDAY_10AM, SEOUL, FakeQueues, flow_from

OLD = """
name: main
start: hello
nodes:
  hello: {type: play, prompts: [greeting], next: queue}
  queue: {type: enqueue, queue: general}
"""


def book() -> FlowBook:
    ids = iter(f"Q{i}" for i in range(100))
    return FlowBook(
        {"main": flow_from(OLD)}, tz=SEOUL, queues=FakeQueues(), new_request_id=lambda: next(ids)
    )


def test_a_running_call_keeps_its_flow_and_new_calls_get_the_new_one() -> None:
    flows = book()
    running = flows("main", call_id="C1", caller="010", called="1588", now=MONDAY_10AM)
    assert running is not None
    first = running.start(MONDAY_10AM)
    assert isinstance(first[0], Play)
    flows.replace({"main": flow_from(OLD.replace("queue: general", "queue: vip"))})
    (ended,) = running.handle(PromptFinished(), MONDAY_10AM + 3)
    assert isinstance(ended, Enqueue) and ended.queue == "general"  # the version it began with
    fresh = flows("main", call_id="C2", caller="010", called="1588", now=MONDAY_10AM)
    assert fresh is not None
    fresh.start(MONDAY_10AM)
    (queued,) = fresh.handle(PromptFinished(), MONDAY_10AM + 3)
    assert isinstance(queued, Enqueue) and queued.queue == "vip"


def test_an_unknown_flow_starts_nothing() -> None:
    assert book()("night", call_id="C1", caller="010", called="1588", now=MONDAY_10AM) is None
    assert book().names == ["main"]
