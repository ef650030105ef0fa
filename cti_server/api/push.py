"""``GET /api/v1/events``: the live event WebSocket for desktops and wallboards.

API_CONTRACT.md "Live events": ``?token=<token>&cursor=<last seq seen or empty>`` (the token
may come as ``Authorization: Bearer`` instead). A bad or missing token is accepted at the
HTTP level and then closed with code 4401 ("unauthorized"), so a browser page, which cannot
read a refused handshake's status, can tell "log in again" from a network error; a cursor
that is not a whole number is closed with 4400, and 4503 ("try again later") when the
token store cannot be asked. ``authenticate`` may answer at once or with a Deferred (a token
store in Redis). Frames are JSON text: ``{"seq", "event",
"data"}``, ``{"type": "heartbeat", "seq"}`` and ``{"type": "gap", "oldest"}``.

Slow clients: after the handshake the protocol registers itself as the transport's push
producer (replacing the finished HTTP channel). Twisted calls ``pauseProducing`` when the
transport's user-space buffer passes its 64 KiB mark and ``resumeProducing`` when it has
drained, for TCP and TLS alike. The hub stops writing live events to a client once
``max_buffered_bytes`` went out while paused (it catches up from the ring when drained), so
memory per client stays about 64 KiB plus that limit, and cuts off one that stays paused
past ``max_stall`` (``abortConnection``: the buffer is discarded, no close frame could get
through). This uses only the public IConsumer/IPushProducer contract, not the transport's
private ``dataBuffer``/``_tempDataLen``, and works the same behind TLS.
Each event is framed once (autobahn's ``prepareMessage``) and the same bytes written to
every client that may see it. WebSocket pings (``auto_ping``) drop peers that vanished.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.protocol import PreparedMessage
from autobahn.websocket.types import ConnectionRequest
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.python.failure import Failure
from zope.interface import implementer

from cti_server.adapters.timers import DeadlineTimer
from cti_server.push import PushHub, Viewer

log = logging.getLogger(__name__)

# A token's viewer (None: not a valid token), now or as a Deferred (a token store in Redis).
Authenticate = Callable[[str], "Viewer | Deferred[Viewer | None] | None"]
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400
# The token store is down: as HTTP 503 (RFC 6455's 1013 is not among the codes autobahn
# lets an application send: 1000 and 3000-4999).
CLOSE_TRY_AGAIN = 4503


@implementer(IPushProducer)
class _Producer:
    """The transport's flow-control calls, passed to the hub as pause/resume."""

    def __init__(self, protocol: PushProtocol) -> None:
        self._protocol = protocol

    def pauseProducing(self) -> None:
        self._protocol.paused()

    def resumeProducing(self) -> None:
        self._protocol.resumed()

    def stopProducing(self) -> None:
        return None  # connectionLost follows


class PushProtocol(WebSocketServerProtocol):
    factory: PushFactory
    _viewer: Viewer | None = None
    _cursor: int | None = None
    _refusal: tuple[int, str] | None = None

    def onConnect(self, request: ConnectionRequest) -> Deferred[None] | None:  # type: ignore[override]
        token = (request.params.get("token") or [""])[0]
        if not token:
            header = str(request.headers.get("authorization", ""))
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        cursor = (request.params.get("cursor") or [""])[0].strip()
        if cursor and not (cursor.isascii() and cursor.isdigit()):
            self._refusal = (CLOSE_BAD_REQUEST, f"cursor must be a whole number, not {cursor!r}")
            return None
        self._cursor = int(cursor) if cursor else None
        if not token:
            self._refusal = (CLOSE_UNAUTHORIZED, "unauthorized")
            return None
        try:
            found = self.factory.authenticate(token)
        except Exception:  # an auth bug must refuse the client, not break the endpoint
            log.exception("push: authenticate() failed")
            found = None
        if isinstance(found, Deferred):  # a token store that answers later (Redis)
            return found.addCallbacks(self._authenticated, self._authentication_failed)
        self._authenticated(found)
        return None

    def _authenticated(self, viewer: Viewer | None) -> None:
        self._viewer = viewer
        if viewer is None:
            self._refusal = (CLOSE_UNAUTHORIZED, "unauthorized")

    def _authentication_failed(self, failure: Failure) -> None:
        log.warning("push: token lookup failed: %s", failure.getErrorMessage())
        self._refusal = (CLOSE_TRY_AGAIN, "try again later")

    def onOpen(self) -> None:
        if self._refusal is not None or self._viewer is None:
            code, reason = self._refusal or (CLOSE_UNAUTHORIZED, "unauthorized")
            self.factory.hub.stats.rejected += 1
            self.sendClose(code, reason)
            return
        transport: Any = self.transport
        transport.unregisterProducer()  # the HTTP channel's, done with
        transport.registerProducer(_Producer(self), True)
        self.factory.hub.connect(self, self._viewer, self._cursor, self._now())
        self.factory.rearm()

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        return None  # the channel is one-way; pings are answered by autobahn

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.factory.hub.disconnect(self)

    def _now(self) -> float:
        return float(self.factory.reactor.seconds())

    def paused(self) -> None:
        self.factory.hub.pause(self, self._now())

    def resumed(self) -> None:
        self.factory.hub.resume(self, self._now())

    # --- the hub's Sink --------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        if self.state == WebSocketServerProtocol.STATE_OPEN:
            self.sendPreparedMessage(self.factory.prepared(frame))

    def abort(self) -> None:
        self.wasClean = False
        self.wasNotCleanReason = "push client cut off: it stopped reading"
        self.dropConnection(abort=True)


class PushFactory(WebSocketServerFactory):
    protocol = PushProtocol  # type: ignore[assignment]

    def __init__(
        self, hub: PushHub, authenticate: Authenticate, reactor: Any, auto_ping: float
    ) -> None:
        super().__init__(reactor=reactor)  # type: ignore[no-untyped-call]
        self.hub = hub
        self.authenticate = authenticate
        self._last: tuple[bytes, PreparedMessage] | None = None
        self._timer = DeadlineTimer(reactor, self._on_timer)
        options: dict[str, Any] = {"maxMessagePayloadSize": 65536, "maxFramePayloadSize": 65536}
        if auto_ping > 0:
            options |= {"autoPingInterval": auto_ping, "autoPingTimeout": auto_ping}
        self.setProtocolOptions(**options)  # type: ignore[no-untyped-call]

    def prepared(self, frame: bytes) -> PreparedMessage:
        """The frame as a WebSocket message, built once for all the clients it goes to."""
        last = self._last
        if last is not None and last[0] is frame:
            return last[1]
        message: PreparedMessage = self.prepareMessage(frame)
        self._last = (frame, message)
        return message

    def rearm(self) -> None:
        self._timer.rearm(self.hub.next_deadline())

    def _on_timer(self, now: float) -> None:
        self.hub.on_timer(now)
        self.rearm()

    def stop(self) -> None:
        self._timer.stop()


__all__ = [
    "CLOSE_BAD_REQUEST",
    "CLOSE_TRY_AGAIN",
    "CLOSE_UNAUTHORIZED",
    "Authenticate",
    "PushFactory",
    "PushProtocol",
]
