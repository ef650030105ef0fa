"""This process as one node of a cluster (``redis.cluster: true``): its two links to the others.

``ClusterLink`` carries queue work to the leader and the leader's decisions back;
``RegistrationShare`` keeps every node's registrations in Redis so any node can ring any
agent. Built by ``build_app`` when the contact center's ACD is a ``ClusterAcd``; started once
the reactor runs, stopped with the app.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from acd.cluster import ClusterAcd
from cti_server.adapters.cluster_link import ClusterLink, build_cluster_link
from cti_server.adapters.registration_share import (
    RegistrationShare,
    build_registration_share,
)

log = logging.getLogger(__name__)


@dataclass
class ClusterNode:
    acd: ClusterAcd
    link: ClusterLink
    registrations: RegistrationShare

    def start(self, reactor: Any) -> None:
        def begin() -> None:  # the asyncio loop runs from the first reactor turn on
            self.link.start()
            self.registrations.start()

        reactor.callLater(0, begin)
        log.info("cluster: node %s, queue work through the leader", self.acd.node_id)

    def stop(self) -> Any:
        import asyncio

        from twisted.internet.defer import Deferred

        async def both() -> None:
            await self.link.stop()
            await self.registrations.stop()

        return Deferred.fromFuture(asyncio.ensure_future(both()))


def build_cluster_node(config: Any, acd: ClusterAcd, sip: Any, reactor: Any) -> ClusterNode:
    """Wire the links and chain ``link.pump`` after every SIP flush."""
    link = build_cluster_link(config, acd, sip)
    share = build_registration_share(config, sip.switch.endpoint.registrar, reactor, acd.node_id)
    before = sip.after_flush

    def after_flush() -> None:
        if before is not None:
            before()
        link.pump()

    sip.after_flush = after_flush
    return ClusterNode(acd, link, share)
