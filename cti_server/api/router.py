"""One table of routes for ``/api/v1``: dispatch, authentication, validation, JSON errors.

A :class:`Route` names its method, path template (``/agents/{agent_id}/state``), the least
role it needs (None: open), the pydantic models of its query, body and answer, and a handler.
The same table makes the OpenAPI document (:mod:`cti_server.api.openapi`), so the document
says what the server does. The :class:`Router` resource, mounted at ``/api/v1``:

1. finds the route (404 for an unknown path, 405 with ``Allow`` for a known one);
2. for a protected route reads ``Authorization: Bearer <token>`` and asks ``authenticate``
   (a Deferred: tokens may live in Redis) for the principal: 401 without one, 403 when its
   role is below the route's;
3. validates the query and the JSON body (400 naming the field: ``bad_<field>``,
   ``bad_json``, ``bad_query``);
4. calls the handler, which returns a value, a Deferred or a coroutine (database and hashing
   work goes to the thread pool, so the reactor never waits), and answers with the route's
   response model applied, so the answer matches the document too.

Errors are ``{"error": code, "detail": text}``: an :class:`ApiError` carries its status; an
unexpected exception is logged and answers 500 without details.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, ValidationError
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from cti_server.auth import Principal, Role, plausible

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"
MAX_BODY = 256 * 1024
Authenticate = Callable[[str], "Deferred[Principal | None]"]


class ApiError(Exception):
    """An answer other than success: ``status`` and the JSON ``{"error", "detail"}``."""

    def __init__(
        self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})


def forbidden(detail: str) -> ApiError:
    return ApiError(403, "forbidden", detail)


def not_found(code: str, detail: str) -> ApiError:
    return ApiError(404, code, detail)


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer when the status, type or headers differ from the route's."""

    body: Any = None
    status: int | None = None
    raw: bytes | None = None  # sent as is (audio, say) with ``content_type``
    content_type: str = JSON_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """What a handler gets: the principal (None on open routes), path parameters, the
    validated query and body models, the client's address and the Twisted request."""

    principal: Principal | None
    params: Mapping[str, str]
    query: Any
    body: Any
    client: str
    token: str | None
    http: Request

    @property
    def user(self) -> Principal:
        if self.principal is None:  # a protected route always has one
            raise ApiError(401, "unauthorized", "log in first")
        return self.principal


Handler = Callable[[ApiRequest], Any]
_PARAM = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tags: tuple[str, ...] = ()
    role: Role | None = Role.AGENT
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()  # statuses besides 400/401/403/404 this route may answer
    media_type: str = "application/json"
    description: str = ""
    raw_body: tuple[str, ...] = ()  # request types the handler reads itself (text/csv)
    more_media: tuple[str, ...] = ()  # further response types (an export's other formats)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))

    @property
    def params(self) -> list[str]:
        return [m.group(1) for s in self.segments if (m := _PARAM.match(s))]

    @property
    def operation_id(self) -> str:
        words = [s.strip("{}") for s in self.segments]
        return "_".join([self.method.lower(), *words]).replace("-", "_")

    def match(self, parts: Sequence[str]) -> dict[str, str] | None:
        own = self.segments
        if len(own) != len(parts):
            return None
        found: dict[str, str] = {}
        for mine, theirs in zip(own, parts, strict=True):
            param = _PARAM.match(mine)
            if param is not None:
                if not theirs:
                    return None
                found[param.group(1)] = theirs
            elif mine != theirs:
                return None
        return found

    @property
    def literal_count(self) -> int:
        """More literal segments match first: ``/calls/dial`` before ``/calls/{call_id}``."""
        return sum(1 for s in self.segments if not _PARAM.match(s))


class Router(Resource):
    """``/api/v1``: the routes, plus children mounted by name (``events``)."""

    def __init__(self, routes: Sequence[Route], authenticate: Authenticate) -> None:
        super().__init__()
        self.routes = sorted(routes, key=lambda r: -r.literal_count)
        self.authenticate = authenticate
        seen = set()
        for r in self.routes:
            key = (r.method, r.segments)
            if key in seen:
                raise ValueError(f"route {r.method} {r.path} defined twice")
            seen.add(key)

    def getChild(self, path: bytes, request: Request) -> Resource:
        return _Dispatch(self, [path, *(request.postpath or [])])

    def render(self, request: Request) -> int:
        return _Dispatch(self, []).render(request)

    def dispatch(self, request: Request, segments: list[bytes]) -> int:
        finished: list[bool] = []
        request.notifyFinish().addBoth(lambda _: finished.append(True))
        d = Deferred.fromCoroutine(self._answer(request, segments))
        d.addErrback(self._failed, request)
        d.addCallback(self._send, request, finished)
        d.addErrback(lambda f: log.error("answering %r failed:\n%s", request.uri, f.getTraceback()))
        return NOT_DONE_YET

    async def _answer(self, request: Request, segments: list[bytes]) -> Reply:
        route, params = self._find(request, segments)
        principal, token = None, None
        if route.role is not None:
            token = bearer_token(request)
            if token is None:
                raise _unauthorized(
                    "log in first: Authorization: Bearer <token> from POST /auth/login"
                )
            principal = await self.authenticate(token)
            if principal is None:
                raise _unauthorized("the token is unknown, expired or logged out: log in again")
            if not principal.at_least(route.role):
                raise forbidden(f"{route.method} {route.path} needs the {route.role} role")
        query = _query(route, request)
        body = _body(route, request)
        client = _client(request)
        result = route.handler(ApiRequest(principal, params, query, body, client, token, request))
        if inspect.isawaitable(result):
            result = await result
        return _reply(route, result)

    def _find(self, request: Request, segments: list[bytes]) -> tuple[Route, dict[str, str]]:
        try:
            parts = [unquote(s.decode("utf-8"), errors="strict") for s in segments]
        except UnicodeDecodeError:
            raise not_found("not_found", "the path is not UTF-8") from None
        method = (request.method or b"GET").decode("ascii", "replace")
        method = "GET" if method == "HEAD" else method
        allowed: list[str] = []
        for route in self.routes:
            params = route.match(parts)
            if params is None:
                continue
            if route.method == method:
                return route, params
            allowed.append(route.method)
        path = "/" + "/".join(parts)
        if allowed:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{method} {path}: use {', '.join(sorted(set(allowed)))}",
                {"Allow": ", ".join(sorted(set(allowed)))},
            )
        raise not_found("not_found", f"no resource at /api/v1{path}")

    def _failed(self, failure: Failure, request: Request) -> Reply:
        from cti_server.call.queue_host import StandbyError

        exc = failure.value
        if isinstance(exc, ApiError):
            return Reply({"error": exc.code, "detail": exc.detail}, exc.status, headers=exc.headers)
        if isinstance(exc, StandbyError):
            return Reply({"error": "standby", "detail": str(exc)}, 503)
        log.error("%r %r failed:\n%s", request.method, request.uri, failure.getTraceback())
        return Reply({"error": "internal", "detail": "the server failed; see its log"}, 500)

    def _send(self, reply: Reply, request: Request, finished: list[bool]) -> None:
        if finished:  # the client went away
            return
        status = reply.status or 200
        request.setResponseCode(status)
        for name, value in reply.headers.items():
            request.setHeader(name.encode(), value.encode())
        if status == 401:
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="cti"')
        request.setHeader(b"Cache-Control", b"no-store")
        if reply.raw is not None:
            request.setHeader(b"Content-Type", reply.content_type.encode())
            request.write(reply.raw)
        elif status != 204:
            request.setHeader(b"Content-Type", JSON_TYPE.encode())
            request.write(json.dumps(reply.body, ensure_ascii=False, default=str).encode())
        request.finish()


class _Dispatch(Resource):
    isLeaf = True

    def __init__(self, router: Router, segments: list[bytes]) -> None:
        super().__init__()
        self._router = router
        self._segments = segments

    def render(self, request: Request) -> int:
        return self._router.dispatch(request, self._segments)


async def resolve(value: Any) -> Any:
    """A value, or what a Deferred or coroutine comes to (``CallControl`` may return any)."""
    if inspect.isawaitable(value):
        return await value
    return value


def bearer_token(request: Request) -> str | None:
    header = request.getHeader(b"authorization")
    if not header:
        return None
    scheme, _, token = header.decode("latin-1").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not plausible(token):
        return None
    return token


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", detail)


def _client(request: Request) -> str:
    address = request.getClientAddress()
    return str(getattr(address, "host", "") or "unknown")


def _query(route: Route, request: Request) -> Any:
    if route.query is None:
        return None
    try:
        args = {k.decode(): v[-1].decode() for k, v in (request.args or {}).items()}
    except UnicodeDecodeError:
        raise ApiError(400, "bad_query", "the query string is not UTF-8") from None
    try:
        return route.query.model_validate(args)
    except ValidationError as exc:
        raise ApiError(400, "bad_query", _explain(exc)) from None


def content_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower case ('' when none)."""
    raw = request.getHeader(b"content-type") or b""
    return raw.decode("latin-1").split(";", 1)[0].strip().lower()


def _body(route: Route, request: Request) -> Any:
    if route.body is None or content_type(request) in route.raw_body:
        return None
    content = request.content
    raw = content.read(MAX_BODY + 1) if content is not None else b""
    if len(raw) > MAX_BODY:
        raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
    if not raw.strip():
        raw = b"{}"
    try:
        return route.body.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc") or ()
        if first["type"] == "json_invalid":
            raise ApiError(400, "bad_json", f"the body is not valid JSON: {first['msg']}") from None
        if not loc:
            raise ApiError(400, "bad_json", "the body must be a JSON object") from None
        name = str(loc[0])
        code = f"bad_{name}" if name in route.body.model_fields else "bad_body"
        raise ApiError(400, code, _explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc") or ()) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _reply(route: Route, result: Any) -> Reply:
    if isinstance(result, Reply):
        if result.raw is not None or result.body is None:
            return Reply(result.body, result.status or route.status, result.raw,
                         result.content_type, result.headers)  # fmt: skip
        return Reply(_shape(route, result.body), result.status or route.status,
                     headers=result.headers)  # fmt: skip
    if result is None and route.response is None:
        return Reply(None, route.status)
    return Reply(_shape(route, result), route.status)


def _shape(route: Route, body: Any) -> Any:
    """The body through the route's response model, so it says what the document says."""
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json")
    if route.response is None:
        return body
    return route.response.model_validate(body).model_dump(mode="json")
