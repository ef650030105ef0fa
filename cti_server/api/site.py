"""The HTTP side: ``/metrics`` for Prometheus and the REST API under ``/api/v1``.

:func:`build_http_site` gathers what the routes need from the :class:`~cti_server.app.App`
into :class:`ApiParts` and :func:`build_api` makes the site from them (tests build the parts
themselves). The answer, :class:`HttpSite`, holds the Twisted ``Site`` and lets other parts
mount theirs before the port opens: ``mount_api(b"events", ws)`` for ``/api/v1/events``,
``mount(b"desktop", pages)`` for ``/desktop/``; ``authenticate(token)`` (a Deferred of the
:class:`~cti_server.auth.Principal` or None) is what a WebSocket checks its token with.
Open without a token: ``/metrics``, ``/api/v1/health``, ``/api/v1/ha``,
``/api/v1/openapi.json`` and ``/api/v1/auth/login``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from twisted.internet.defer import Deferred, succeed
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from cti_server.api.agent_performance import performance_routes
from cti_server.api.agents import AgentsApi
from cti_server.api.callback_figures import CallbackFiguresApi
from cti_server.api.calls import CallsApi
from cti_server.api.campaigns import CampaignsApi
from cti_server.api.contact import ContactApi
from cti_server.api.control import CallControl
from cti_server.api.crm_export import crm_routes
from cti_server.api.evaluations import evaluation_routes
from cti_server.api.ha import HaResource, HaStatus
from cti_server.api.login import Blocking, Logins, UserStore
from cti_server.api.models import HealthOut
from cti_server.api.monitor import monitor_routes
from cti_server.api.openapi import openapi_document
from cti_server.api.recordings import RecordingsApi
from cti_server.api.review import review_routes
from cti_server.api.router import ApiRequest, Route, Router
from cti_server.api.stats import StatsResource
from cti_server.api.tokens import MemoryTokens, RedisTokens, TokenService
from cti_server.api.wallboard import WallboardApi
from cti_server.auth import (
    DEFAULT_TTL,
    LoginRateLimiter,
    Principal,
    RateLimitSettings,
    TokenIssuer,
    plausible,
)


class MetricsResource(Resource):
    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode())
        return generate_latest(self._registry)


class NotFound(Resource):
    isLeaf = True

    def render(self, request: Request) -> bytes:
        request.setResponseCode(404)
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        path = request.path.decode("utf-8", "replace")
        return json.dumps({"error": "not_found", "detail": f"no resource at {path}"}).encode()


class Root(Resource):
    def getChild(self, path: bytes, request: Request) -> Resource:
        return NotFound()


@dataclass
class ApiParts:
    """What the routes read and call. ``blocking(f, *args)`` runs ``f`` in a thread pool
    and returns a Deferred; ``clock`` is the reactor's ``seconds``."""

    users: UserStore
    tokens: TokenService
    clock: Callable[[], float]
    blocking: Blocking
    tz: ZoneInfo
    health: Callable[[], dict[str, Any]]
    registry: CollectorRegistry | None = None
    acd: Any = None
    submit: Callable[[Any], None] | None = None
    queue_names: Sequence[str] = ()
    calls: Mapping[str, Any] = field(default_factory=dict)
    recording: Any = None  # RecordingService: live recording control
    recordings: Any = None  # RecordingRepo: the index
    stats: StatsResource | None = None
    ha: HaStatus | None = None
    reload_flows: Callable[[], list[str]] | None = None
    call_control: CallControl | None = None
    limiter: LoginRateLimiter = field(default_factory=LoginRateLimiter)
    database: Any = None  # Database: campaigns and callback figures (sync, in the pool)
    monitor: Any = None  # adapters.monitor_control.MonitorControl: listen, whisper, barge


class HttpSite:
    def __init__(self, parts: ApiParts, routes: list[Route]) -> None:
        self.parts = parts
        self.tokens = parts.tokens
        self.routes = routes
        self.api = Router(routes, self.authenticate)
        self.root = Root()
        if parts.registry is not None:
            self.root.putChild(b"metrics", MetricsResource(parts.registry))
        api = Root()
        api.putChild(b"v1", self.api)
        self.root.putChild(b"api", api)
        self.site = Site(self.root)
        self.site.displayTracebacks = False
        self._document: dict[str, Any] | None = None

    def authenticate(self, token: str) -> Deferred[Principal | None]:
        """The principal a bearer token stands for; None when it is unknown or expired."""
        if not plausible(token):
            return succeed(None)
        return self.tokens.lookup(token)

    def mount(self, name: bytes, resource: Resource) -> None:
        """Serve ``resource`` at ``/<name>`` (static pages)."""
        self.root.putChild(name, resource)

    def mount_api(self, name: bytes, resource: Resource) -> None:
        """Serve ``resource`` at ``/api/v1/<name>`` (the events WebSocket); it does its own
        authentication, with :meth:`authenticate`."""
        self.api.putChild(name, resource)

    def openapi(self) -> dict[str, Any]:
        if self._document is None:
            self._document = openapi_document(self.routes)
        return self._document

    def close(self) -> Deferred[None]:
        """Release the token store's connections (Redis)."""
        if isinstance(self.tokens, RedisTokens):
            return self.tokens.close()
        return succeed(None)


def api_routes(parts: ApiParts) -> list[Route]:
    logins = Logins(parts.users, parts.tokens, parts.limiter, parts.clock, parts.blocking)
    agents = AgentsApi(parts.acd, parts.submit, parts.queue_names, parts.reload_flows)
    calls = CallsApi(parts.calls, parts.recording, parts.call_control)
    load = parts.stats.load if parts.stats is not None else None
    settings = parts.stats.settings if parts.stats is not None else None
    wallboard = WallboardApi(agents, load, parts.tz, parts.clock, settings)
    routes = [*logins.routes(), *agents.routes(), wallboard.route(), *calls.routes()]
    routes += [*ContactApi(parts.call_control).routes(), RecordingsApi(parts.recordings).route()]
    if parts.database is not None:
        campaigns = CampaignsApi(parts.database, parts.queue_names, parts.tz, parts.blocking,
                                 parts.clock)  # fmt: skip
        figures = CallbackFiguresApi(parts.database, parts.tz, parts.blocking, parts.clock, load)
        routes += [*campaigns.routes(), figures.route(), *crm_routes(parts)]
    routes += evaluation_routes(parts)
    routes += review_routes(parts)
    routes += performance_routes(parts)
    if parts.monitor is not None:  # anchored media only
        routes += monitor_routes(parts)
    if parts.stats is not None:
        routes.append(parts.stats.route())
    if parts.ha is not None:
        routes.append(HaResource(parts.ha).route())

    def health(req: ApiRequest) -> dict[str, Any]:
        return parts.health()

    routes.append(Route("GET", "/health", health, "Liveness and a few counters (open)",
                        ("system",), role=None, response=HealthOut))  # fmt: skip
    return routes


def build_api(
    parts: ApiParts,
    *,
    api_children: Mapping[bytes, Resource] | None = None,
    root_children: Mapping[bytes, Resource] | None = None,
) -> HttpSite:
    routes = api_routes(parts)
    holder: list[HttpSite] = []

    def document(req: ApiRequest) -> dict[str, Any]:
        return holder[0].openapi()

    routes.append(Route("GET", "/openapi.json", document, "This document (open)",
                        ("system",), role=None))  # fmt: skip
    http = HttpSite(parts, routes)
    holder.append(http)
    for name, resource in (api_children or {}).items():
        http.mount_api(name, resource)
    for name, resource in (root_children or {}).items():
        http.mount(name, resource)
    return http


def build_http_site(
    app: Any,
    *,
    call_control: CallControl | None = None,
    api_children: Mapping[bytes, Resource] | None = None,
    root_children: Mapping[bytes, Resource] | None = None,
    token_ttl: float = DEFAULT_TTL,
    rate_limits: RateLimitSettings | None = None,
) -> HttpSite:
    """The site of a running :class:`~cti_server.app.App`; ``call_control`` defaults to
    ``app.call_control`` when the app has one. Tokens live in Redis when ``redis.url`` is
    set (every node accepts them), else in this process."""
    from twisted.internet.threads import deferToThreadPool

    from cti_server.record_keeping import build_stats_resource
    from cti_server.storage import Database
    from cti_server.storage.users import UserRepo

    config, reactor = app.config, app.reactor

    def blocking(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
        return deferToThreadPool(reactor, reactor.getThreadPool(), f, *args, **kwargs)

    issuer = TokenIssuer(secrets.token_bytes, token_ttl)
    tokens: TokenService
    if config.redis.url:
        tokens = RedisTokens.from_url(
            config.redis.url, issuer, reactor.seconds, config.redis.key_prefix
        )
    else:
        tokens = MemoryTokens(issuer, reactor.seconds)
    center = app.center
    acd = center.acd if center is not None else None
    database = Database.from_config(config)
    parts = ApiParts(
        users=UserRepo(database),
        tokens=tokens,
        clock=reactor.seconds,
        blocking=blocking,
        tz=ZoneInfo(config.timezone),
        health=app.health,
        registry=app.registry,
        acd=acd,
        submit=app.agent_input if acd is not None else None,
        queue_names=[q.name for q in config.acd.queues],
        calls=app.switch.controller.calls,
        recording=app.recording,
        recordings=app.recording.repo if app.recording is not None else None,
        stats=build_stats_resource(config),
        ha=app.ha,
        reload_flows=center.reload_flows if center is not None else None,
        call_control=call_control or getattr(app, "call_control", None),
        limiter=LoginRateLimiter(rate_limits),
        database=database,
        monitor=getattr(app, "monitor", None),
    )
    return build_api(parts, api_children=api_children, root_children=root_children)
