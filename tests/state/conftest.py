"""State-backend fixtures: each contract test runs on the in-memory backend and on Redis.

Redis is the server at ``REDIS_URL`` (default redis://127.0.0.1:6379/0). Every test gets its
own random key prefix and deletes exactly its keys afterwards (SCAN + DEL, never FLUSHDB);
when Redis does not answer, the Redis parametrizations skip with the reason. A test that
needs Redis to go away starts its own ``redis-server`` (``own_redis``) and stops it by PID.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import redis
from twisted.internet.defer import Deferred

from cti_server.state import InMemoryBackend, RedisBackend, StateBackend
from cti_server.storage.bridge import run_in_loop

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)


def asyncio_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., Deferred[None]]:
    """Run an async test body as an asyncio Task on the reactor's loop (redis.asyncio needs
    one); pytest-twisted waits for the Deferred."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Deferred[None]:
        return run_in_loop(fn(*args, **kwargs))

    return wrapper


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    """One backend kind: ``make`` builds backends sharing one store, ``wait`` lets leases
    run out (the fake clock for memory, real time for Redis)."""

    kind: str
    clock: FakeClock = field(default_factory=FakeClock)
    prefix: str = ""
    made: list[StateBackend] = field(default_factory=list)

    def make(self, *, max_events: int = 100_000) -> StateBackend:
        backend: StateBackend
        if self.kind == "memory":
            backend = InMemoryBackend(self.clock, max_events=max_events)
        else:
            backend = RedisBackend.from_url(redis_url(), prefix=self.prefix, max_events=max_events)
        self.made.append(backend)
        return backend

    async def wait(self, seconds: float) -> None:
        if self.kind == "memory":
            self.clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)


@functools.cache
def redis_problem() -> str:
    """Empty when Redis answers PING, else why not."""
    try:
        client = redis.Redis.from_url(redis_url(), socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return f"Redis at {redis_url()} not reachable: {exc}"
    return ""


def random_prefix() -> str:
    return f"cti-test:{os.getpid()}:{secrets.token_hex(4)}:"


def delete_prefix_sync(url: str, prefix: str) -> int:
    """Delete the keys under ``prefix`` with SCAN + DEL (for tests outside an asyncio Task)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=prefix.replace("*", r"\*") + "*"))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


async def _harness(kind: str) -> AsyncIterator[Harness]:
    if kind == "redis" and redis_problem():
        pytest.skip(redis_problem())
    h = Harness(kind, prefix=random_prefix())
    yield h
    if h.kind == "redis":
        cleaner = RedisBackend.from_url(redis_url(), prefix=h.prefix)
        await run_in_loop(cleaner.delete_all())
        await run_in_loop(cleaner.close())
    for backend in h.made:
        await run_in_loop(backend.close())


@pytest_twisted.async_yield_fixture(params=["memory", "redis"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for h in _harness(request.param):
        yield h


@pytest_twisted.async_yield_fixture
async def redis_harness() -> AsyncIterator[Harness]:
    """Redis alone, for what only Redis has (key layout, outages)."""
    async for h in _harness("redis"):
        yield h


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OwnRedis:
    """A redis-server this test started (no persistence); ``stop`` kills it by PID."""

    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    proc = subprocess.Popen(
        [*args, "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = OwnRedis(port, proc)
    try:
        deadline = time.monotonic() + 5
        while True:
            probe = redis.Redis(port=port, socket_connect_timeout=0.2)
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"own redis-server on port {port} did not start")
                time.sleep(0.05)
            finally:
                probe.close()
        yield server
    finally:
        server.stop()
