"""Shared fixtures: one embedded local AWS per test session, reached over real HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from sandbox import Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """moto's state is process-wide, so the session shares one sandbox; tests use unique names."""
    with Sandbox() as running:
        saved = {key: os.environ.get(key) for key in running.env()}
        os.environ.update(running.env())
        yield running
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def unique() -> str:
    """A short suffix that keeps names of one test apart from every other test's."""
    return uuid.uuid4().hex[:8]
