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

from cti_server.adapters.sip_service import SipService
from cti_server.bus import EventBus
from cti_server.config import Config
from cti_server.contact_center import AcdHolder

log = logging.getLogger(__name__)


def build_hot_standby(
    config: Config, reactor: Any, bus: EventBus, acd: AcdHolder, sip: SipService, rng: Any
) -> Any:
    """Primary/secondary: only the node holding the Redis lease distributes. It saves the
    distributor's snapshot (fenced by its token); a standby promoted to leader restores it,
    so it knows every agent state and waiting call the old leader knew."""
    from acd.distributor import Distributor
    from cti_server.adapters.ha_service import build_ha

    acd.active = False  # until the lease is ours

    def promoted(snapshot: dict[str, Any] | None, token: int) -> None:
        now = reactor.seconds()
        if snapshot is not None:
            acd.current = Distributor.restore(
                config.acd, rng or random.SystemRandom(), snapshot, now
            )
            stats = acd.current.agents()
            log.warning(
                "ACD leader (token %d): restored %d agents, %d waiting calls",
                token,
                len(stats),
                len(snapshot.get("calls", [])),
            )
        else:
            log.warning("ACD leader (token %d): no snapshot, starting fresh", token)
        acd.active = True
        if snapshot is not None:
            _forget_lost_calls(sip, snapshot, now)
        sip.flush()  # re-arm the timer: the restored deadlines must fire

    def demoted() -> None:
        if acd.active:
            log.warning("ACD standby: this node no longer holds the lease")
        acd.active = False

    return build_ha(
        config,
        reactor,
        bus,
        snapshot=lambda: acd.current.snapshot() if acd.active else None,
        on_promoted=promoted,
        on_demoted=demoted,
    )


def _forget_lost_calls(sip: SipService, snapshot: dict[str, Any], now: float) -> None:
    """Calls the old leader's node terminated died with it: the restored distributor is told
    their callers left and their agents' calls ended, so nobody is offered a ghost and the
    agents come free (after wrap-up)."""
    from acd.protocol import AgentCallEnded, CallerLeft

    owned = sip.switch.controller.calls
    waiting = [row["call_id"] for row in snapshot.get("calls", []) if row["call_id"] not in owned]
    talking = [
        (row["id"], row["call_id"])
        for row in snapshot.get("agents", [])
        if row.get("call_id") and row["call_id"] not in owned and row["call_id"] not in waiting
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
