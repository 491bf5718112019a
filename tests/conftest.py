"""Shared fixtures: one embedded local AWS per test session, reached over real HTTP.

The sandbox is imported inside the fixtures, so the unit tests (which never ask for it) run without moto.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sandbox.faults import FaultControls
    from sandbox.server import Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """moto's state is process-wide, so the session shares one sandbox; tests use unique names."""
    from sandbox.lambda_runtime import environment  # noqa: PLC0415
    from sandbox.server import Sandbox  # noqa: PLC0415

    with Sandbox() as running, environment(running.env()):
        yield running


@pytest.fixture
def controls(sandbox: Sandbox) -> Iterator[FaultControls]:
    """The session sandbox's realism and fault controls, all off before and after the test."""
    sandbox.controls.reset()
    yield sandbox.controls
    sandbox.controls.reset()


@pytest.fixture
def unique() -> str:
    """A short suffix that keeps names of one test apart from every other test's."""
    return uuid.uuid4().hex[:8]
