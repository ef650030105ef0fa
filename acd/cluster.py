"""One distributor for several nodes: the leader decides, each node executes for its own calls.

Theory of operation: every node of a cluster answers calls and terminates their dialogs and
media (it *owns* them); only the node holding the leader lease runs the distributor. The call
controller of every node talks to a ``ClusterAcd`` exactly as it talks to a distributor
(``handle``, ``on_timer``, ``next_deadline``, ``drain_events``):

- on a follower, ``handle`` queues the input for the leader (``to_leader``) and returns no
  action; the leader's decisions for this node's calls come back later through the host
  (``ClusterLink``) and are executed by the controller like local ones;
- on the leader, inputs from its own controller and from the other nodes (``origin``) go to
  the distributor; each decision is returned when this node owns the call and queued for its
  owner (``to_nodes``) otherwise. ``QueueCall`` and ``ClaimAgent`` say who owns a call.

The owner table travels in the distributor's snapshot, so a new leader keeps routing
decisions to the right nodes. A new leader does not replay the inputs the old one may have
read after its last snapshot (that would redo decisions already carried out): it asks every
node for a report of what it holds (``ReportRequest`` / ``NodeReport``) and squares the
restored distributor with it (``reconcile``); nodes that stay silent for ``REPORT_WAIT``
seconds are taken for dead with their calls. Presence (a phone registered or went away, on
whichever node) is an input of its own, ``AgentPresence``, turned into a login or logout on
the leader, which alone knows the agent's state. Pure: no I/O, time passed in.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from acd import protocol as p
from acd.protocol import AcdAction, AcdInput

log = logging.getLogger(__name__)

REPORT_WAIT = 3.0  # seconds a new leader waits for the other nodes' reports


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPresence:
    """A phone of ``agent_id`` registered (``registered``) or lost its last registration."""

    agent_id: str
    registered: bool
    ready: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportRequest:
    """A new leader asks every node for its calls (broadcast)."""

    leader: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeReport:
    """What one node holds: the queued calls it owns (their ``QueueCall`` as a dict), the
    calls connected to an agent (``[call_id, agent_id, queue]``) and the agents registered
    there. The new leader squares its restored distributor with it (``reconcile``)."""

    queued: list[dict[str, Any]]
    connected: list[list[str]]
    registered: list[str]


ClusterInput = AcdInput | AgentPresence | NodeReport

_WIRE: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        p.AgentLogin,
        p.AgentLogout,
        p.ChangeAgentState,
        p.WrapUpDone,
        p.QueueCall,
        p.CallerLeft,
        p.OfferAnswered,
        p.OfferFailed,
        p.AgentCallEnded,
        p.ClaimAgent,
        AgentPresence,
        NodeReport,
        ReportRequest,
        p.Offer,
        p.WithdrawOffer,
        p.Announce,
        p.Overflow,
    )
}


class WireError(ValueError):
    """A cluster message that is not one of the distributor's inputs or actions."""


def to_wire(item: ClusterInput | AcdAction) -> dict[str, Any]:
    """A JSON-able dict; ``from_wire`` gives the same dataclass back."""
    row = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    row["type"] = type(item).__name__
    return row


def from_wire(row: dict[str, Any]) -> Any:
    data = dict(row)
    cls = _WIRE.get(str(data.pop("type", "")))
    if cls is None:
        raise WireError(f"unknown cluster message type {row.get('type')!r}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise WireError(f"bad {cls.__name__}: {exc}") from None


def presence_input(
    state: str | None, presence: AgentPresence
) -> p.AgentLogin | p.AgentLogout | None:
    """What a registration change means for an agent in ``state`` (None: not an ACD agent)."""
    if state is None:
        return None
    if presence.registered:
        return (
            p.AgentLogin(agent_id=presence.agent_id, ready=presence.ready)
            if (state == "logged_out")
            else None
        )
    if state == "logged_out":
        return None
    return p.AgentLogout(agent_id=presence.agent_id, reason="registration_ended")


class ClusterAcd:
    """The distributor as one node of a cluster sees it (see the module docstring)."""

    forwards_presence = True  # the controller sends AgentPresence instead of deciding itself

    def __init__(self, current: Any, node_id: str, *, leader: bool = False) -> None:
        self.current = current  # acd.distributor.Distributor (meaningful on the leader only)
        self.node_id = node_id
        self.leader = leader
        self.owners: dict[str, str] = {}  # call_id -> node that owns it (leader only)
        self.cursor = "$"  # last input read from the shared input stream (leader only)
        self.to_leader: list[ClusterInput] = []
        self.to_nodes: list[tuple[str, AcdAction]] = []
        self.to_all: list[ReportRequest] = []  # broadcasts (a new leader's report request)
        self.awaiting: set[str] = set()  # nodes whose report a new leader waits for
        self.report_due: float | None = None  # then the silent ones' calls are ended
        self.dropped = 0  # remote inputs the distributor refused (stale after a fail-over)

    # --- what the controller uses -------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Every node of a cluster serves queues (the controller's ``acd_ready``)."""
        return True

    @property
    def is_leader(self) -> bool:
        return self.leader

    def handle(self, item: ClusterInput, now: float, origin: str | None = None) -> list[AcdAction]:
        if not self.leader:
            self.to_leader.append(item)
            return []
        node = origin or self.node_id
        if isinstance(item, p.QueueCall | p.ClaimAgent):
            self.owners[item.call_id] = node
        if isinstance(item, NodeReport):
            return self.reconcile(node, item, now)
        if isinstance(item, AgentPresence):
            login = presence_input(self.current.agent_state(item.agent_id), item)
            if login is None:
                return []
            return self._route(self.current.handle(login, now))
        try:
            actions = self.current.handle(item, now)
        except Exception:
            if isinstance(item, p.QueueCall | p.ClaimAgent):
                self.owners.pop(item.call_id, None)
            raise
        if isinstance(item, p.CallerLeft | p.AgentCallEnded):
            self.owners.pop(item.call_id, None)
        return self._route(actions)

    def remote_input(self, origin: str, item: ClusterInput, now: float) -> list[AcdAction]:
        """An input another node sent through the stream: a stale one (the call or agent
        moved on while a leader changed) is logged and dropped, never raised."""
        try:
            return self.handle(item, now, origin)
        except (ValueError, LookupError, RuntimeError) as exc:
            self.dropped += 1
            log.warning("cluster: %s from %s dropped: %s", type(item).__name__, origin, exc)
            return []

    def next_deadline(self) -> float | None:
        if not self.leader:
            return None
        due = self.current.next_deadline()
        if self.report_due is not None and (due is None or self.report_due < due):
            return self.report_due
        return due  # type: ignore[no-any-return]

    def on_timer(self, now: float) -> list[AcdAction]:
        if not self.leader:
            return []
        actions: list[AcdAction] = []
        if self.report_due is not None and self.report_due <= now:
            self.report_due = None
            actions += self.forget_silent(now)
        return actions + self._route(self.current.on_timer(now))

    def drain_events(self) -> list[Any]:
        return self.current.drain_events() if self.leader else []

    def __getattr__(self, name: str) -> Any:  # views (agent_state, agents, queues ...)
        return getattr(self.current, name)

    # --- the leader's routing -----------------------------------------------------------------

    def _route(self, actions: list[AcdAction]) -> list[AcdAction]:
        local: list[AcdAction] = []
        for action in actions:
            owner = self.owners.get(action.call_id, self.node_id)
            if owner == self.node_id:
                local.append(action)
            else:
                self.to_nodes.append((owner, action))
        return local

    # --- leadership ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        data: dict[str, Any] = self.current.snapshot()
        live = {row["call_id"] for row in data.get("calls", [])}
        live |= {row["call_id"] for row in data.get("agents", []) if row.get("call_id")}
        self.owners = {c: n for c, n in self.owners.items() if c in live}  # bounded
        data["cluster"] = {"leader": self.node_id, "owners": self.owners}
        return data

    def take_over(
        self,
        restore: Callable[[dict[str, Any]], Any],
        snapshot: dict[str, Any] | None,
        now: float,
    ) -> tuple[str | None, set[str]]:
        """Become the leader from the old leader's ``snapshot`` (None: start fresh). Returns
        the old leader's node and the calls it owned: they died with it unless it was us."""
        self.leader = True
        # Inputs sent to the old leader are not replayed (its decisions were carried out);
        # the reports asked for here say what the nodes hold now. Read from this moment on
        # (a stream id is the adding time in ms, on the clock the nodes share).
        self.cursor = f"{int(now * 1000)}-0"
        self.to_all.append(ReportRequest(leader=self.node_id))
        if snapshot is None:
            return None, set()
        self.current = restore(snapshot)
        cluster = snapshot.get("cluster") or {}
        self.owners = dict(cluster.get("owners") or {})
        old = cluster.get("leader")
        dead = {c for c, n in self.owners.items() if n == old and old != self.node_id}
        self.awaiting = {n for n in self.owners.values() if n not in (old, self.node_id)}
        self.report_due = now + REPORT_WAIT if self.awaiting else None
        return old, dead

    # --- squaring a restored distributor with what the nodes hold -----------------------------

    def reconcile(self, node: str, report: NodeReport, now: float) -> list[AcdAction]:
        """Make the distributor agree with ``node``'s calls: the node is the truth for the
        calls it owns (they live in its SIP dialogs). Inputs sent while no leader read the
        stream, or read by the old leader after its last snapshot, are covered this way
        instead of replayed (a replay would redo decisions already carried out)."""
        self.awaiting.discard(node)
        state = self.current.snapshot()
        waiting = {row["call_id"] for row in state.get("calls", [])}
        holding = {row["call_id"]: row for row in state.get("agents", []) if row.get("call_id")}
        queued = {row["call_id"]: row for row in report.queued}
        talking = {call_id: (agent, queue) for call_id, agent, queue in report.connected}
        items: list[ClusterInput] = []
        busy_with = {call_id: row["id"] for call_id, row in holding.items()}
        for call_id in sorted(waiting):  # waiting here, but gone or connected there
            if self.owners.get(call_id) == node and call_id not in queued:
                items.append(p.CallerLeft(call_id=call_id))
        for call_id, row in sorted(holding.items()):  # an agent on a call that ended there
            if self.owners.get(call_id) != node or call_id in queued or call_id in waiting:
                continue
            if talking.get(call_id, ("",))[0] != row["id"]:
                if row["state"] == "busy":
                    items.append(p.AgentCallEnded(call_id=call_id, agent_id=row["id"]))
                else:
                    items.append(p.CallerLeft(call_id=call_id))
        for call_id, (agent, queue) in sorted(talking.items()):  # connected there
            if busy_with.get(call_id) != agent or call_id in waiting:
                items += [
                    p.ClaimAgent(call_id=call_id, agent_id=agent, queue=queue),
                    p.OfferAnswered(call_id=call_id, agent_id=agent),
                ]
        for call_id, row in sorted(queued.items()):  # queued there, unknown here
            if call_id not in waiting:
                items.append(p.QueueCall(**row))
        items += [AgentPresence(agent_id=a, registered=True) for a in report.registered]
        actions: list[AcdAction] = []
        for item in items:
            actions += self.remote_input(node, item, now)
        return actions

    def forget_silent(self, now: float) -> list[AcdAction]:
        """Nodes that did not report: their calls died with them."""
        silent, self.awaiting = self.awaiting, set()
        empty = NodeReport(queued=[], connected=[], registered=[])
        actions: list[AcdAction] = []
        for node in sorted(silent):
            log.warning("cluster: node %s did not report after the takeover: its calls end", node)
            actions += self.reconcile(node, empty, now)
        return actions

    def step_down(self) -> None:
        self.leader = False


__all__ = [
    "AgentPresence",
    "ClusterAcd",
    "ClusterInput",
    "NodeReport",
    "ReportRequest",
    "WireError",
    "from_wire",
    "presence_input",
    "to_wire",
]
