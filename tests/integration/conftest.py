"""Fixtures of the integration tier: faults off around every test, and (for the handler's tests) a
scenario world and freshly initialised handlers.

The product (scenarios, the handler) is imported inside its fixtures only, so the sandbox's own tests
under tests/integration/sandbox/ load nothing but the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from sandbox.lambda_runtime import FunctionLogs, capture_function_output, environment_factory

if TYPE_CHECKING:
    from sandbox.faults import FaultControls
    from sandbox.server import Sandbox
    from scenarios import World

Handler = Callable[[dict[str, Any], Any], Any]
HANDLER_MODULE = "handler.app"


@pytest.fixture(autouse=True)
def _faults_off(controls: FaultControls) -> None:
    """Every integration test starts and ends with the sandbox's realism and faults off."""


@pytest.fixture
def world(sandbox: Sandbox, unique: str) -> World:
    from scenarios import build_world  # noqa: PLC0415

    return build_world(f"it-{unique}", endpoint_url=sandbox.endpoint_url)


@pytest.fixture
def logs() -> FunctionLogs:
    """The function's log stream: Powertools JSON lines and EMF metrics."""
    return FunctionLogs()


@pytest.fixture
def cold_start(monkeypatch: pytest.MonkeyPatch, logs: FunctionLogs) -> Callable[..., Handler]:
    """Initialises a fresh execution environment of handler.app with extra environment variables."""

    def start(**env: str) -> Handler:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with capture_function_output(logs):
            handler = environment_factory(HANDLER_MODULE)()

        def invoke(event: dict[str, Any], lambda_context: Any) -> Any:
            # pytest swaps sys.stdout between test phases, so capture around each invocation
            with capture_function_output(logs):
                return handler(event, lambda_context)

        return invoke

    return start
