"""Fixtures of the end-to-end tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from handler.observability import logger
from sandbox.lambda_runtime import FunctionLogs


@pytest.fixture(autouse=True)
def function_logs_at_info() -> Iterator[None]:
    """The function's log level is its default, INFO, in every test. In this process every execution environment
    shares the module handler.observability, and an operator command run in-process (``asg-namer sweep`` quiets
    that logger) would otherwise silence the function in every later test."""
    logger.setLevel("INFO")
    yield
    logger.setLevel("INFO")


@pytest.fixture
def logs() -> FunctionLogs:
    """The function's log stream: Powertools JSON lines and EMF metrics."""
    return FunctionLogs()
