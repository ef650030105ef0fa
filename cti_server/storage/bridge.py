"""The asyncio/Twisted seam for storage (DESIGN.md §6).

SQLAlchemy's async engines (aiosqlite, asyncpg) only work inside asyncio Tasks: a coroutine
driven by ``ensureDeferred`` fails with "await wasn't used with future", and an asyncio Task
cannot await a Deferred ("Task got bad yield"). These two helpers are the only crossings, so
Twisted-facing code (adapters, web resources, pytest-twisted tests) never awaits a repository
directly. Cancelling the returned Deferred cancels the Task; it then fails with
``asyncio.CancelledError``, not Twisted's ``CancelledError`` (reference/stack.md §1 gotcha 3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from twisted.internet.defer import Deferred

T = TypeVar("T")


def run_in_loop(coro: Coroutine[Any, Any, T]) -> Deferred[T]:
    """Run ``coro`` as an asyncio Task on the reactor's loop and expose it as a Deferred.

    Call it once the reactor runs (or from ``reactor.callLater(0, ...)``): ``callWhenRunning``
    fires before the asyncio loop is running (stack.md §1 gotcha 4).
    """
    return Deferred.fromFuture(asyncio.ensure_future(coro))


def await_deferred(d: Deferred[T]) -> asyncio.Future[T]:
    """The other direction: a Deferred that asyncio code (inside a Task) can await."""
    return d.asFuture(asyncio.get_running_loop())
