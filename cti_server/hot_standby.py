"""Primary/secondary: the Redis leader lease decides which node distributes calls.

Only the node holding the lease runs the distributor. It saves the distributor's snapshot
(fenced by its token); a standby promoted to leader restores it, so it knows every agent
state and waiting call the old leader knew, and lets go of the calls whose SIP dialogs and
media died with the old leader's node.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from acd.cluster import ClusterAcd
from cti_server.adapters.sip_service import SipService
from cti_server.bus import EventBus
from cti_server.config import Config
from cti_server.contact_center import AcdHolder

log = logging.getLogger(__name__)


def build_hot_standby(
    config: Config,
    reactor: Any,
    bus: EventBus,
    acd: AcdHolder | ClusterAcd,
    sip: SipService,
    rng: Any,
) -> Any:
    """Primary/secondary: only the node holding the Redis lease distributes. It saves the
    distributor's snapshot (fenced by its token); a standby promoted to leader restores it,
    so it knows every agent state and waiting call the old leader knew. In a cluster
    (``ClusterAcd``) the other nodes keep taking calls and send their queue work to it."""
    from acd.distributor import Distributor
    from cti_server.adapters.ha_service import build_ha

    def restore(snapshot: dict[str, Any]) -> Distributor:
        return Distributor.restore(
            config.acd, rng or random.SystemRandom(), snapshot, reactor.seconds()
        )

    if isinstance(acd, ClusterAcd):
        acd.step_down()  # until the lease is ours
    else:
        acd.active = False

    def promoted(snapshot: dict[str, Any] | None, token: int) -> None:
        now = reactor.seconds()
        lost: set[str] | None = None
        if isinstance(acd, ClusterAcd):
            old, dead = acd.take_over(restore, snapshot, now)
            lost = dead  # the old leader's calls; the other nodes report theirs
            log.warning("cluster leader (token %d) after %s", token, old or "nobody")
        elif snapshot is not None:
            acd.current = restore(snapshot)
        if snapshot is not None:
            log.warning(
                "ACD leader (token %d): restored %d agents, %d waiting calls",
                token,
                len(acd.current.agents()),
                len(snapshot.get("calls", [])),
            )
        else:
            log.warning("ACD leader (token %d): no snapshot, starting fresh", token)
        if not isinstance(acd, ClusterAcd):
            acd.active = True
            if snapshot is None:  # Redis lost it: ours, stale since we stepped down, is the last
                snapshot = acd.current.snapshot()
        if snapshot is not None:
            _forget_lost_calls(sip, snapshot, now, lost)
        if isinstance(acd, ClusterAcd):  # our own calls are the truth for what we own
            report = sip.switch.cluster_report(now)
            sip.switch.cluster_input(acd.node_id, report, now)
        sip.flush()  # re-arm the timer: the restored deadlines must fire

    def demoted() -> None:
        if acd.is_leader:
            log.warning("ACD standby: this node no longer holds the lease")
        if isinstance(acd, ClusterAcd):
            acd.step_down()
        else:
            acd.active = False

    return build_ha(
        config,
        reactor,
        bus,
        snapshot=lambda: acd.snapshot() if acd.is_leader else None,
        on_promoted=promoted,
        on_demoted=demoted,
    )


def _forget_lost_calls(
    sip: SipService, snapshot: dict[str, Any], now: float, lost: set[str] | None = None
) -> None:
    """Calls the old leader's node terminated died with it: the restored distributor is told
    their callers left and their agents' calls ended, so nobody is offered a ghost and the
    agents come free (after wrap-up)."""
    from acd.protocol import AgentCallEnded, CallerLeft

    owned = sip.switch.controller.calls

    def gone(call_id: str) -> bool:  # ``lost``: a cluster, where other nodes own calls too
        return call_id in lost if lost is not None else call_id not in owned

    waiting = [row["call_id"] for row in snapshot.get("calls", []) if gone(row["call_id"])]
    talking = [
        (row["id"], row["call_id"])
        for row in snapshot.get("agents", [])
        if row.get("call_id") and gone(row["call_id"]) and row["call_id"] not in waiting
    ]
    for call_id in waiting:
        sip.switch.acd_input(CallerLeft(call_id=call_id), now)
    for agent_id, call_id in talking:
        sip.switch.acd_input(AgentCallEnded(call_id=call_id, agent_id=agent_id), now)
    if waiting or talking:
        log.warning(
            "calls lost with the old leader's node: %d waiting, %d with agents",
            len(waiting),
            len(talking),
        )
