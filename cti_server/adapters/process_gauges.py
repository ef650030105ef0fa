"""What the process holds, for ``/metrics``: the figures a leak shows up in.

A leak is a count that grows with the calls handled and does not come back down when the
server is idle again: resident memory, open file descriptors (sockets, recordings, journal
segments), the reactor's pending timers (``callLater``: SIP transaction timers, media ticks,
retries), threads and asyncio tasks (database and Redis work). ``loadtests/soak.py`` samples
these under steady load and compares the idle counts before and after.

``attach_process_gauges(registry, reactor)`` adds, to the application's explicit registry:

* prometheus_client's standard ``process_*`` family (``process_resident_memory_bytes``,
  ``process_open_fds``, ``process_cpu_seconds_total``, ...), read from ``/proc``;
* ``cti_reactor_delayed_calls``, ``cti_threads``, ``cti_asyncio_tasks`` and
  ``cti_python_allocated_blocks`` (``sys.getallocatedblocks``: objects alive, which tells a
  leak of Python objects from the allocator keeping freed memory in RSS), counted at scrape
  time on the reactor thread (the web layer serves ``/metrics`` there).

Nothing is counted between scrapes, so the hot paths pay nothing.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class ProcessGauges(Collector):
    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def collect(self) -> Iterator[GaugeMetricFamily]:
        timers = (
            self._reactor.getDelayedCalls() if hasattr(self._reactor, "getDelayedCalls") else []
        )
        yield GaugeMetricFamily(
            "cti_reactor_delayed_calls",
            "Timers pending in the reactor (callLater): SIP transaction timers, ticks, retries",
            value=len(timers),
        )
        yield GaugeMetricFamily("cti_threads", "Threads alive", value=threading.active_count())
        yield GaugeMetricFamily(
            "cti_python_allocated_blocks",
            "Memory blocks the interpreter holds (objects): grows with a leak of Python objects,"
            " not with the allocator keeping freed memory",
            value=sys.getallocatedblocks(),
        )
        yield GaugeMetricFamily(
            "cti_asyncio_tasks",
            "asyncio tasks not done on the reactor's loop (database and Redis work)",
            value=self._tasks(),
        )

    def _tasks(self) -> int:
        loop = getattr(self._reactor, "_asyncioEventloop", None)
        if loop is None:
            return 0
        try:
            return sum(1 for task in asyncio.all_tasks(loop) if not task.done())
        except RuntimeError:  # the loop's task set changed while we counted: next scrape
            return 0


def attach_process_gauges(registry: CollectorRegistry, reactor: Any) -> ProcessGauges:
    """Register the ``process_*`` family and the reactor's counts on ``registry``."""
    ProcessCollector(registry=registry)
    gauges = ProcessGauges(reactor)
    registry.register(gauges)
    return gauges
