"""Schemathesis over the live API: every operation the document lists (or a selection of it),
valid and invalid requests, with a bearer token; failures are collected, not raised, so one
run reports them all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def fuzz_api(
    base: str,
    token: str,
    *,
    select: Callable[[Any], Any] = lambda schema: schema,
    document: dict[str, Any] | None = None,
    max_examples: int = 10,
    check_auth: bool = False,
    skip_unsatisfiable: bool = True,
) -> tuple[set[str], list[str]]:
    """(operation labels run, failures). ``document``: test this OpenAPI document instead of
    the server's own; ``check_auth``: also require 401 without the token;
    ``skip_unsatisfiable``: an operation with nothing to make invalid is not a failure."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        ignored_auth,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance, *([ignored_auth] if check_auth else [])]  # fmt: skip
    if document is None:
        schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    else:
        schema = schemathesis.openapi.from_dict(document)
    schema = select(schema)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations.add(operation.label)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=max_examples, deadline=None, database=None,
                      derandomize=True, suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                case.call_and_validate(base_url=f"{base}/api/v1", headers=headers, checks=checks)

            try:
                run()
            except Unsatisfiable as exc:
                if not skip_unsatisfiable:
                    failures.append(f"{operation.label} ({mode.value}): {exc}")
            except Exception as exc:  # noqa: BLE001 - collected, reported together
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return operations, failures
