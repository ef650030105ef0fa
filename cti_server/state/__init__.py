"""Shared state for a hot standby: the leader lease, the distributor snapshot, the event
stream (DESIGN.md §3). ``lease`` is the pure decision logic; the backends are the I/O."""

from cti_server.state.backend import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_PREFIX,
    InMemoryBackend,
    StateBackend,
    StateUnavailable,
    parse_stream_id,
)
from cti_server.state.lease import (
    Acquire,
    Demoted,
    IllegalLeaseTransition,
    LeaseAction,
    LeaseInput,
    LeaseKeeper,
    LeaseState,
    Promoted,
    Release,
    Renew,
)
from cti_server.state.redis_backend import RedisBackend, RedisKeys

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_PREFIX",
    "Acquire",
    "Demoted",
    "IllegalLeaseTransition",
    "InMemoryBackend",
    "LeaseAction",
    "LeaseInput",
    "LeaseKeeper",
    "LeaseState",
    "Promoted",
    "RedisBackend",
    "RedisKeys",
    "Release",
    "Renew",
    "StateBackend",
    "StateUnavailable",
    "parse_stream_id",
]
