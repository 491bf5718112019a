"""Shared fixtures: one embedded local AWS per test session, reached over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sandbox import Sandbox
from sandbox.lambda_runtime import environment


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """moto's state is process-wide, so the session shares one sandbox; tests use unique names."""
    with Sandbox() as running, environment(running.env()):
        yield running


@pytest.fixture
def unique() -> str:
    """A short suffix that keeps names of one test apart from every other test's."""
    return uuid.uuid4().hex[:8]
