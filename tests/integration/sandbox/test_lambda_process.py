"""sandbox.lambda_process: execution environments as processes, driven by the runner the trigger uses."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.invocation import FunctionRunner, InvocationOutcome
from sandbox.lambda_context import FunctionSettings
from sandbox.lambda_process import ProcessEnvironments

MODULE = "tests.support.process_function"


@pytest.fixture
def environments() -> Iterator[ProcessEnvironments]:
    with ProcessEnvironments(MODULE, environment={"SETTING": "configured"}, seed=1) as made:
        yield made


def runner(environments: ProcessEnvironments, timeout: float = 60.0) -> FunctionRunner:
    settings = FunctionSettings("process-function", timeout=timeout)
    return FunctionRunner(settings, environments, function_arn="arn:aws:lambda:::function:p", on_init=lambda: None)


@contextlib.contextmanager
def printed() -> Iterator[io.StringIO]:
    with contextlib.redirect_stdout(io.StringIO()) as text:
        yield text


def test_an_environment_initialises_and_serves_in_a_process_of_its_own(environments: ProcessEnvironments) -> None:
    # GIVEN a function whose environments are processes
    function = runner(environments)
    # WHEN it is invoked twice, one invocation after the other
    with printed() as logs:
        first, second = function.invoke({}), function.invoke({"print": "handled"})
    # THEN one environment served both: initialised in its own process, with the function's configuration
    assert (first.outcome, second.outcome) == (InvocationOutcome.SUCCESS, InvocationOutcome.SUCCESS)
    assert (first.cold_start, second.cold_start) == (True, False)
    answer: dict[str, Any] = first.response
    assert answer["pid"] == answer["initialised_in"] == second.response["pid"] != os.getpid()
    assert answer["setting"] == "configured"
    # AND it read the context the runner made for it
    assert answer["request_id"] == first.request_id
    assert 0 < answer["remaining_ms"] <= 60_000
    # AND what it printed reached this process's output
    assert logs.getvalue().splitlines() == ["initialised", "handled"]


def test_concurrent_invocations_run_in_separate_processes(environments: ProcessEnvironments) -> None:
    import threading  # noqa: PLC0415

    # GIVEN a function and two invocations at once (each waits long enough for the other to start)
    function = runner(environments)
    results: list[Any] = []
    invocations = [threading.Thread(target=lambda: results.append(function.invoke({"sleep": 0.5}))) for _ in "ab"]
    # WHEN both run
    with printed():
        for thread in invocations:
            thread.start()
        for thread in invocations:
            thread.join()
    # THEN each had an environment, and a process, of its own
    assert {r.outcome for r in results} == {InvocationOutcome.SUCCESS}
    assert len({r.environment_id for r in results}) == len({r.response["pid"] for r in results}) == 2


def test_the_functions_errors_are_reported_under_their_own_names(environments: ProcessEnvironments) -> None:
    # GIVEN a function
    function = runner(environments)
    # WHEN an invocation raises, another returns a set, another something no pipe can carry
    with printed():
        raised, not_json, unpicklable = (function.invoke(e) for e in ({"raise": "bad"}, {"set": 1}, {"unpicklable": 1}))
    # THEN each ends as it would in-process (the last as the runtime's marshal error), and the environment lives on
    assert (raised.outcome, raised.error) == (InvocationOutcome.EXCEPTION, "ValueError: bad")
    assert not_json.outcome is InvocationOutcome.INVALID_RESPONSE
    assert unpicklable.outcome is InvocationOutcome.EXCEPTION
    assert unpicklable.error is not None and unpicklable.error.startswith("Runtime.MarshalError: ")
    assert not not_json.cold_start and not unpicklable.cold_start
    assert raised.environment_id == not_json.environment_id == unpicklable.environment_id


def test_an_init_error_fails_the_invocation_and_the_next_one_initialises_again() -> None:
    # GIVEN a function whose initialisation fails
    with ProcessEnvironments(MODULE, environment={"FAIL_INIT": "no table"}) as environments:
        function = runner(environments)
        # WHEN it is invoked twice
        with printed():
            first, second = function.invoke({}), function.invoke({})
    # THEN both are init errors naming the cause, each in a cold start of its own
    for result in (first, second):
        assert (result.outcome, result.error) == (
            InvocationOutcome.INIT_ERROR,
            "RuntimeError: configuration refused: no table",
        )
        assert result.cold_start


def test_an_invocation_past_its_timeout_ends_its_process(environments: ProcessEnvironments) -> None:
    # GIVEN a function with a 1 s timeout, warm
    function = runner(environments, timeout=1.0)
    with printed():
        warm = function.invoke({})
        # WHEN an invocation sleeps far past the timeout
        timed_out = function.invoke({"sleep": 600})
        after = function.invoke({})
    # THEN it times out, its process is gone, and the next invocation starts cold in a new process
    assert timed_out.outcome is InvocationOutcome.TIMEOUT
    pid = warm.response["pid"]
    with pytest.raises(ProcessLookupError):
        _wait_gone(pid)
    assert after.cold_start and after.response["pid"] != pid


def _wait_gone(pid: int) -> None:
    """Raises ProcessLookupError once ``pid`` no longer exists (it is reaped when ended)."""
    from tests.support.waiting import wait_for  # noqa: PLC0415

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone)
    os.kill(pid, 0)


def test_close_ends_every_environments_process() -> None:
    # GIVEN a function with a warm environment
    with ProcessEnvironments(MODULE) as environments:
        function = runner(environments)
        with printed():
            pid = function.invoke({}).response["pid"]
    # WHEN the environments are closed (leaving the block) THEN the process is gone
    with pytest.raises(ProcessLookupError):
        _wait_gone(pid)


def test_a_started_server_serves_the_first_cold_start(environments: ProcessEnvironments) -> None:
    # GIVEN environments whose fork server was started ahead
    environments.start_server()
    # WHEN the function is invoked THEN its first environment starts in a process of its own
    with printed():
        result = runner(environments).invoke({})
    assert result.cold_start and result.response["pid"] != os.getpid()
