"""The OpenAPI 3.1 document of ``/api/v1``, made from the route table (never by hand).

Schemas come from the routes' pydantic models (``models_json_schema``: JSON Schema 2020-12,
which OpenAPI 3.1 uses as it is), so a field added to a model is in the document at once.
Every protected operation names the bearer scheme and its 401/403/503 answers; every
operation with a path parameter its 404, with a query or body its 400; the rest come from
``Route.errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from cti_server.api.models import Error
from cti_server.api.router import Route

REF = "#/components/schemas/{model}"
ERROR_TEXT = {
    400: "Bad JSON or a field that fails validation; `detail` names it",
    401: "No token, or an unknown, expired or logged-out one",
    403: "The role is too low, or the data is another agent's",
    404: "No such resource",
    405: "The path exists, the method does not",
    409: "The change is not allowed in the current state",
    413: "The body is too large",
    422: "The file the request names is invalid (an IVR flow)",
    429: "Too many failed logins; wait `Retry-After` seconds",
    503: "This node is a standby, or the service behind the route is unavailable",
}


def _schemas(routes: Sequence[Route]) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Error, "serialization")]
    for r in routes:
        for model, mode in ((r.body, "validation"), (r.response, "serialization")):
            if model is not None and (model, mode) not in wanted:
                wanted.append((model, mode))  # type: ignore[arg-type]
    keys, top = models_json_schema(wanted, ref_template=REF)
    return dict(keys), top.get("$defs", {})


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in prop.items() if k != "description"},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _error(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": ERROR_TEXT.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }
    if status == 429:
        answer["headers"] = {
            "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
        }
    return answer


def _operation(route: Route, keys: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": list(route.tags),
    }
    if route.description:
        op["description"] = route.description
    if route.role is not None:
        op["security"] = [{"bearer": []}]
        op["x-min-role"] = route.role.value
        op["summary"] += f" ({route.role.value}+)"
    else:
        op["security"] = []
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for p in route.params
    ]
    if route.query is not None:
        params += _query_parameters(route.query)
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {
            "required": any(f.is_required() for f in route.body.model_fields.values()),
            "content": {"application/json": {"schema": keys[(route.body, "validation")]}}
            | {media: {"schema": {"type": "string"}} for media in route.raw_body},
        }
    success: dict[str, Any] = {"description": "OK"}
    if route.status == 204:
        success = {"description": "No content"}
    elif route.response is not None:
        schema = keys[(route.response, "serialization")]
        success["content"] = {route.media_type: {"schema": schema}}
    elif route.media_type != "application/json":
        binary = {"schema": {"type": "string", "format": "binary"}}
        success["content"] = {media: binary for media in (route.media_type, *route.more_media)}
    statuses = set(route.errors)
    if route.role is not None:
        statuses |= {401, 403, 503}  # 503: the shared token store (Redis) is unreachable
    if route.params:
        statuses.add(404)
    if route.query is not None or route.body is not None:
        statuses.add(400)
    if route.body is not None:
        statuses.add(413)
    op["responses"] = {str(route.status): success} | {str(s): _error(s) for s in sorted(statuses)}
    return op


def openapi_document(
    routes: Sequence[Route], *, title: str = "CTI server API", version: str = "1"
) -> dict[str, Any]:
    keys, defs = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(routes, key=lambda r: (r.path, r.method)):
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, keys)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Agent desktop and wallboard API. Log in with POST /auth/login and "
            "send `Authorization: Bearer <token>`. Roles: agent < supervisor < admin. Errors "
            'are `{"error": code, "detail": text}`. 상담원 데스크톱/월보드 API.',
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
