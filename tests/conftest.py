"""Shared fixtures. The asyncio reactor is installed by pytest-twisted (``--reactor=asyncio``)."""

from __future__ import annotations

import random

import pytest

from cti_server.ids import IdFactory


@pytest.fixture
def ids() -> IdFactory:
    """Seeded ids: the same tags, branches and Call-IDs on every run."""
    return IdFactory(random.Random(1234), host="test.invalid")
