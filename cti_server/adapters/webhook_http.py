"""One webhook POST with Twisted's ``Agent``: the answer's status and the start of its body.

The whole exchange (connect, send, read the answer) is bounded by ``timeout``; the body is
read to the end so the connection can go back to the pool, but only its first
``SNIPPET`` bytes are kept (for the log line of a refused delivery), so a receiver that
answers with megabytes costs no memory. No redirects are followed: a 3xx is a failed
attempt like a 5xx (the URL in the config is wrong or moved).
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

SNIPPET = 512


class Poster(Protocol):
    """What the delivery loop needs: POST and get (status, first bytes of the body)."""

    def post(
        self, url: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> Deferred[tuple[int, bytes]]: ...

    def close(self) -> Deferred[None]: ...


@implementer(IBodyProducer)
class _Bytes:
    """The request body in one write (FileBodyProducer would need a cooperator)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.length = len(data) if data else UNKNOWN_LENGTH

    def startProducing(self, consumer: Any) -> Deferred[None]:
        consumer.write(self._data)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class _Snippet(TwistedProtocol):
    """Keeps the first bytes of a response body, drops the rest, fires at its end."""

    def __init__(self, status: int, limit: int = SNIPPET) -> None:
        self.status = status
        self.limit = limit
        self.kept = bytearray()
        self.finished: Deferred[tuple[int, bytes]] = Deferred(self._cancel)

    def dataReceived(self, data: bytes) -> None:
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += data[:room]

    def connectionLost(self, reason: Failure = Failure(ResponseDone())) -> None:  # noqa: B008
        if self.finished.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.finished.callback((self.status, bytes(self.kept)))
        else:
            self.finished.errback(reason)

    def _cancel(self, _: Deferred[tuple[int, bytes]]) -> None:
        if self.transport is not None:
            self.transport.stopProducing()


class AgentPoster:
    """POSTs through one connection pool (kept-alive connections, ``per_host`` each)."""

    def __init__(self, reactor: Any, per_host: int = 4, connect_timeout: float = 10.0) -> None:
        self._reactor = reactor
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = per_host
        self._pool.retryAutomatically = False  # a re-sent POST is ours to decide
        self._agent = Agent(reactor, pool=self._pool, connectTimeout=connect_timeout)

    def post(
        self, url: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> Deferred[tuple[int, bytes]]:
        raw = Headers({k.encode("latin-1"): [v.encode("latin-1")] for k, v in headers.items()})
        d: Deferred[Any] = self._agent.request(b"POST", url.encode("ascii"), raw, _Bytes(body))
        d.addCallback(_read)
        d.addTimeout(timeout, self._reactor)
        return d

    def close(self) -> Deferred[None]:
        result: Deferred[None] = self._pool.closeCachedConnections()
        return result


def _read(response: Any) -> Deferred[tuple[int, bytes]]:
    snippet = _Snippet(int(response.code))
    response.deliverBody(snippet)
    return snippet.finished


def describe(failure: Failure) -> str:
    """A failure as one short line for ``last_error`` and the log."""
    from twisted.internet.defer import CancelledError, TimeoutError

    if failure.check(TimeoutError, CancelledError):
        return "timed out"
    value = failure.value
    reasons = getattr(value, "reasons", None)  # ResponseNeverReceived, RequestGenerationFailed
    if reasons:
        value = reasons[0].value
    text = str(value).strip() or type(value).__name__
    return f"{type(value).__name__}: {text}"[:300]


def tls_available() -> bool:
    """HTTPS needs pyOpenSSL and service_identity (Twisted's ``tls`` extra)."""
    try:
        import OpenSSL  # noqa: F401
        import service_identity  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["SNIPPET", "AgentPoster", "Poster", "describe", "tls_available"]
