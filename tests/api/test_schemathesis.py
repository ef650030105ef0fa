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
from tests.api.fuzzing import fuzz_api

schemathesis = pytest.importorskip("schemathesis")

MAX_EXAMPLES = 8
pytestmark = pytest.mark.timeout(120)


def fuzz(base: str, token: str) -> tuple[set[str], list[str]]:
    return fuzz_api(
        base,
        token,
        select=lambda schema: schema.exclude(path="/auth/logout"),  # it would end the token
        max_examples=MAX_EXAMPLES,
        check_auth=True,
    )


@pytest_twisted.ensureDeferred
async def test_every_answer_matches_the_document(api: Api) -> None:
    token = await api.token("admin")
    operations, failures = await deferToThread(fuzz, api.base, token)
    assert not failures, "\n\n".join(failures)
    every = {f"{r.method} {r.path}" for r in api.http.routes}
    assert operations == every - {"POST /auth/logout", "GET /openapi.json"}  # not its own
