"""A WebSocket test client (autobahn) and a push endpoint on a real loopback port."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, task
from twisted.web.resource import Resource
from twisted.web.server import Site

from cti_server.api.push_wiring import EventPush


@dataclass(frozen=True)
class Viewer:
    role: str
    agent_id: str | None = None


TOKENS = {
    "t-1001": Viewer("agent", "1001"),
    "t-1002": Viewer("agent", "1002"),
    "t-super": Viewer("supervisor"),
}


def authenticate(token: str) -> Viewer | defer.Deferred[Viewer | None] | None:
    """As the auth package's token stores do: ``d-<token>`` answers later, ``down`` fails."""
    from twisted.internet import reactor

    if token == "down":
        return task.deferLater(reactor, 0.01, lambda: 1 / 0)
    if token.startswith("d-"):
        return task.deferLater(reactor, 0.01, TOKENS.get, token[2:])
    return TOKENS.get(token)


class Client(WebSocketClientProtocol):
    factory: ClientFactory

    def onOpen(self) -> None:
        self.factory.protocol_instance = self

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.messages.append(json.loads(payload))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.factory.close = (code, reason)
        if not self.factory.closed.called:
            self.factory.closed.callback((code, reason))


class ClientFactory(WebSocketClientFactory):
    protocol = Client

    def __init__(self, url: str, reactor: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(url, reactor=reactor, headers=headers)
        self.messages: list[dict[str, Any]] = []
        self.protocol_instance: Client | None = None
        self.close: tuple[int | None, str | None] | None = None
        self.closed: defer.Deferred[Any] = defer.Deferred()

    @property
    def seqs(self) -> list[int]:
        return [m["seq"] for m in self.messages if "event" in m]

    @property
    def heartbeats(self) -> list[int]:
        return [m["seq"] for m in self.messages if m.get("type") == "heartbeat"]

    def cursor(self) -> int:
        """The last seq heard (events or heartbeats): what a desktop reconnects with."""
        return max([m["seq"] for m in self.messages if "seq" in m], default=0)


async def wait_for(
    reactor: Any, predicate: Callable[[], bool], timeout: float = 5.0, what: str = ""
) -> None:
    deadline = reactor.seconds() + timeout
    while not predicate():
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await task.deferLater(reactor, 0.01, lambda: None)


@dataclass
class Endpoint:
    reactor: Any
    push: EventPush
    port: Any = None
    clients: list[ClientFactory] = field(default_factory=list)

    def listen(self) -> None:
        root, api, v1 = Resource(), Resource(), Resource()
        root.putChild(b"api", api)
        api.putChild(b"v1", v1)
        v1.putChild(b"events", self.push.resource)
        self.port = self.reactor.listenTCP(0, Site(root), interface="127.0.0.1")

    async def connect(
        self, query: str, *, wait_live: bool = True, headers: dict[str, str] | None = None
    ) -> ClientFactory:
        port = self.port.getHost().port
        url = f"ws://127.0.0.1:{port}/api/v1/events?{query}"
        factory = ClientFactory(url, self.reactor, headers)
        self.clients.append(factory)
        self.reactor.connectTCP("127.0.0.1", port, factory)
        if wait_live:  # the first heartbeat: caught up, live from now on
            await wait_for(self.reactor, lambda: bool(factory.heartbeats), what="live")
        return factory

    async def close(self) -> None:
        for factory in self.clients:
            proto = factory.protocol_instance
            if proto is not None and factory.close is None:
                proto.dropConnection(abort=True)
        await wait_for(
            self.reactor,
            lambda: all(f.close is not None or f.protocol_instance is None for f in self.clients),
            what="clients closed",
        )
        if self.port is not None:
            await self.port.stopListening()
        await self.push.stop()
