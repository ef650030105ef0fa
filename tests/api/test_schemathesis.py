"""Schemathesis against the live API: the generated OpenAPI document, fetched from the
server, drives valid and invalid requests at every operation with a logged-in admin token.

Checked for every answer: no 5xx, a status the document lists for that operation, the
documented content type, and a body that validates against the documented schema; and that
every operation the document protects refuses a request without the token. Bounded:
a few examples per operation and mode (well under a minute in all). Hypothesis runs in a
thread while the reactor serves the API.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from tests.api.conftest import Api

schemathesis = pytest.importorskip("schemathesis")

MAX_EXAMPLES = 8
pytestmark = pytest.mark.timeout(120)


def fuzz(base: str, token: str) -> tuple[set[str], list[str]]:
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
              response_schema_conformance, ignored_auth]  # fmt: skip
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    schema = schema.exclude(path="/auth/logout")  # it would end the token the run uses
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations.add(operation.label)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                      derandomize=True, suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: object) -> None:
                case.call_and_validate(  # type: ignore[attr-defined]
                    base_url=f"{base}/api/v1", headers=headers, checks=checks
                )

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid: no parameters, no body
                continue
            except Exception as exc:  # noqa: BLE001 - collected, reported together below
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return operations, failures


@pytest_twisted.ensureDeferred
async def test_every_answer_matches_the_document(api: Api) -> None:
    token = await api.token("admin")
    operations, failures = await deferToThread(fuzz, api.base, token)
    assert not failures, "\n\n".join(failures)
    every = {f"{r.method} {r.path}" for r in api.http.routes}
    assert operations == every - {"POST /auth/logout", "GET /openapi.json"}  # not its own
