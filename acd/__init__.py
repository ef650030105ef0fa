"""Automatic call distribution: agent states, queues, strategies and the distributor.

Sans-IO: ``Distributor.handle(input, now)`` returns actions (``acd.protocol``), events come
out of ``drain_events()``, time and randomness are injected.
"""

from acd.agent_state import AgentInput, AgentState, IllegalAgentTransition, Pending
from acd.distributor import Distributor
from acd.engine import PRIORITY_SECONDS, RETRY_SECONDS
from acd.errors import (
    AcdError,
    DuplicateCallError,
    UnknownAgentError,
    UnknownQueueError,
    UnknownReasonError,
)
from acd.model import AgentView
from acd.queue import DEFAULT_AHT
from acd.strategies import (
    STRATEGIES,
    RouteContext,
    SortKey,
    Strategy,
    UnknownStrategyError,
    validate_strategies,
)
from acd.views import AgentRow, QueueStats

__all__ = [
    "DEFAULT_AHT",
    "PRIORITY_SECONDS",
    "RETRY_SECONDS",
    "STRATEGIES",
    "AcdError",
    "AgentInput",
    "AgentRow",
    "AgentState",
    "AgentView",
    "Distributor",
    "DuplicateCallError",
    "IllegalAgentTransition",
    "Pending",
    "QueueStats",
    "RouteContext",
    "SortKey",
    "Strategy",
    "UnknownAgentError",
    "UnknownQueueError",
    "UnknownReasonError",
    "UnknownStrategyError",
    "validate_strategies",
]
