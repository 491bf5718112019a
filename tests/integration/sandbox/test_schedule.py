"""The EventBridge schedule and the function both triggers invoke: one function's execution environments and
concurrency serve its SQS trigger and its schedule, as on Lambda."""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.event_source_mapping import EventSourceMappingSettings
from sandbox.invocation import InvocationOutcome
from sandbox.lambda_context import FunctionSettings
from sandbox.lambda_function import LambdaFunction
from sandbox.schedule import Schedule, rate_seconds
from sandbox.trigger import SqsTrigger
from tests.support.hooked_world import fast_clock
from tests.support.waiting import wait_for

WAIT = 30.0  # bounds a failing test only; nothing here asserts on elapsed time
ECHO = "tests.support.echo_function.lambda_handler"


def function_of(handler: Callable[..., Any], **settings: Any) -> LambdaFunction:
    return LambdaFunction(FunctionSettings("schedule-test", timeout=5), handler_factory=lambda: handler, **settings)


@contextmanager
def running(schedule: Schedule) -> Iterator[Schedule]:
    schedule.start()
    try:
        yield schedule
    finally:
        schedule.stop(timeout=10)


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 days)", 172800)],
)
def test_rate_expressions_give_their_period(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(-1 minutes)",
        "every 5 minutes",
        "cron(0 * * * ? *)",
    ],
)
def test_invalid_or_unemulated_schedule_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="ScheduleExpression"):
        rate_seconds(expression)


def test_invalid_rule_and_function_settings_are_refused(sandbox: Sandbox) -> None:
    function = function_of(lambda event, context: None)
    with pytest.raises(ValueError, match="Name"):
        Schedule("no spaces", "rate(1 minute)", function, sandbox.clock)
    with pytest.raises(ValueError, match="MaximumRetryAttempts"):
        Schedule("r", "rate(1 minute)", function, sandbox.clock, maximum_retry_attempts=3)
    with pytest.raises(ValueError, match="module.attribute"):
        LambdaFunction(FunctionSettings("f"), handler="no_dot")
    with pytest.raises(ValueError, match="ReservedConcurrentExecutions"):
        function_of(lambda event, context: None, reserved_concurrency=1001)
    with pytest.raises(ValueError, match="exactly one"):
        LambdaFunction(FunctionSettings("f"))


def test_a_fast_clock_fires_the_rule_every_period_with_awss_scheduled_event(sandbox: Sandbox, unique: str) -> None:
    # GIVEN a function on a one-minute schedule, and a clock running 60x (one firing per real second)
    calls: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
        calls.append(event)
        return {"named": len(calls)}

    function = function_of(handler)
    schedule = Schedule(f"sweep-{unique}", "rate(1 minute)", function, sandbox.clock)
    # WHEN it runs for three firings
    with fast_clock(sandbox, 60), running(schedule):
        wait_for(lambda: len([i for i in schedule.invocations() if i.settled.is_set()]) >= 3, timeout=WAIT)
    # THEN the firings were meant a sandbox minute apart, each fired no earlier than meant, each result kept
    fired = schedule.invocations()
    assert [b.scheduled_at - a.scheduled_at for a, b in zip(fired, fired[1:], strict=False)] == [60.0] * (
        len(fired) - 1
    )
    assert all(i.fired_at >= i.scheduled_at for i in fired)
    assert [i.response for i in fired[:3]] == [{"named": 1}, {"named": 2}, {"named": 3}]
    # AND the event is AWS's scheduled event for this rule
    event = calls[0]
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {})
    assert event["resources"] == [f"arn:aws:events:us-east-1:123456789012:rule/sweep-{unique}"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    uuid.UUID(event["id"])
    assert len({e["id"] for e in calls}) == len(calls)


def test_fire_now_invokes_once_and_keeps_the_response(sandbox: Sandbox, unique: str) -> None:
    # GIVEN a schedule that will not fire on its own during the test
    schedule = Schedule(
        f"daily-{unique}", "rate(1 day)", LambdaFunction(FunctionSettings("echo"), handler=ECHO), sandbox.clock
    )
    # WHEN fired now
    with running(schedule):
        fired = schedule.fire_now().wait(WAIT)
    # THEN the function answered, and the schedule keeps that one firing
    assert fired.succeeded and fired.response == {"greeting": "", "source": "aws.events", "function": "echo"}
    assert schedule.invocations() == [fired]


def test_function_errors_are_retried_twice_a_minute_then_two_minutes_apart(sandbox: Sandbox, unique: str) -> None:
    # GIVEN a function that fails twice, then works
    attempts: list[float] = []

    def flaky(event: dict[str, Any], context: Any) -> str:
        attempts.append(sandbox.clock.now())
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "done"

    schedule = Schedule(f"retry-{unique}", "rate(1 day)", function_of(flaky), sandbox.clock)
    # WHEN fired (a fast clock makes the retry delays short)
    with fast_clock(sandbox, 120), running(schedule):
        fired = schedule.fire_now().wait(WAIT)
    # THEN three attempts, the first two failed, the delays were one and two sandbox minutes at least
    assert [a.outcome for a in fired.attempts] == [
        InvocationOutcome.EXCEPTION,
        InvocationOutcome.EXCEPTION,
        InvocationOutcome.SUCCESS,
    ]
    assert fired.response == "done"
    assert attempts[1] - attempts[0] >= 60 and attempts[2] - attempts[1] >= 120


def test_without_retries_a_failed_invocation_settles_unsuccessful(sandbox: Sandbox, unique: str) -> None:
    def broken(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("broken")

    schedule = Schedule(f"once-{unique}", "rate(1 day)", function_of(broken), sandbox.clock, maximum_retry_attempts=0)
    fired = schedule.fire_now().wait(WAIT)
    assert not fired.succeeded and fired.response is None
    assert [a.outcome for a in fired.attempts] == [InvocationOutcome.EXCEPTION]
    assert fired.attempts[0].error == "RuntimeError: broken"


def test_the_queue_trigger_and_the_schedule_share_the_functions_environments_and_concurrency(
    sandbox: Sandbox, unique: str
) -> None:
    # GIVEN one function with reserved concurrency 1 behind an SQS trigger and a schedule; its SQS invocation
    # holds the only slot until the test lets it go
    sqs = sandbox.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"shared-{unique}")["QueueUrl"]
    release = threading.Event()
    seen: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> str:
        source = "sqs" if "Records" in event else event["source"]
        seen.append(source)
        if source == "sqs":
            release.wait(WAIT)
        return source

    function = function_of(handler, reserved_concurrency=1)
    trigger = SqsTrigger(
        queue_url,
        function=function,
        mapping=EventSourceMappingSettings(maximum_concurrency=2),
        endpoint_url=sandbox.endpoint_url,
    )
    schedule = Schedule(f"shared-{unique}", "rate(1 day)", function, sandbox.clock)
    try:
        with trigger, running(schedule):
            sqs.send_message(QueueUrl=queue_url, MessageBody="hold the slot")
            wait_for(lambda: seen == ["sqs"], timeout=WAIT)
            # WHEN the schedule fires while the SQS invocation runs
            fired = schedule.fire_now()
            # THEN it waits for the function's only slot
            assert not fired.settled.wait(0.5)
            assert function.stats().in_flight == 1
            # AND once the SQS invocation is done it runs, warm, in the environment the SQS batch used
            release.set()
            fired.wait(WAIT)
            assert trigger.wait_until_idle(timeout=WAIT)
    finally:
        release.set()
    assert fired.response == "aws.events" and seen == ["sqs", "aws.events"]
    stats = function.stats()
    assert (stats.environments_created, stats.inits, stats.max_concurrent, stats.invocations) == (1, 1, 1, 2)
    assert not fired.attempts[0].cold_start
    assert trigger.stats().invocation_log[0].environment_id == fired.attempts[0].environment_id


def test_a_throttled_function_leaves_the_batch_to_come_back_to_the_queue(sandbox: Sandbox, unique: str) -> None:
    # GIVEN a function with reserved concurrency 0 (throttled) behind an SQS trigger, a 1 s visibility timeout
    sqs = sandbox.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"throttled-{unique}", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    calls: list[dict[str, Any]] = []
    function = LambdaFunction(
        FunctionSettings("throttled", timeout=1), handler_factory=lambda: calls.append, reserved_concurrency=0
    )
    trigger = SqsTrigger(queue_url, function=function, endpoint_url=sandbox.endpoint_url)
    sqs.send_message(QueueUrl=queue_url, MessageBody="waits")
    # WHEN the trigger receives it
    assert trigger.poll_once(wait_seconds=WAIT) is None
    # THEN the function never ran, the batch counts as throttled and the message comes back
    assert calls == [] and function.stats().invocations == 0
    assert trigger.stats().throttled_batches == 1
    message = wait_for(lambda: sqs.receive_message(QueueUrl=queue_url).get("Messages"), timeout=WAIT)
    assert message[0]["Body"] == "waits"


def test_the_functions_environment_is_set_while_it_initialises_and_a_configuration_update_starts_cold() -> None:
    # GIVEN a function named by its Handler setting, with an environment variable it reads at cold start
    assert "GREETING" not in os.environ
    function = LambdaFunction(FunctionSettings("echo"), handler=ECHO, environment={"GREETING": "hi"})
    # WHEN invoked THEN it answers with the configured value, and the process's environment is left as it was
    first = function.invoke({"source": "test"})
    assert first is not None and first.response["greeting"] == "hi" and first.cold_start
    assert "GREETING" not in os.environ
    # WHEN its configuration is updated THEN the next invocation starts cold and reads the new value
    function.update_configuration({"GREETING": "hello"})
    second = function.invoke({"source": "test"})
    assert second is not None and second.response["greeting"] == "hello" and second.cold_start
    assert second.environment_id != first.environment_id
    # AND a warm environment is reused after that
    third = function.invoke({"source": "test"})
    assert third is not None and not third.cold_start and third.environment_id == second.environment_id


def test_a_cold_start_that_would_begin_after_its_invocation_timed_out_never_runs() -> None:
    # GIVEN a function whose cold start (with its environment set) is held up, keeping other cold starts waiting
    release, started = threading.Event(), threading.Event()

    def slow_factory() -> Callable[..., Any]:
        started.set()
        release.wait(WAIT)
        return lambda event, context: "slow"

    factory_calls: list[int] = []

    def counted_factory() -> Callable[..., Any]:
        factory_calls.append(1)
        return lambda event, context: "quick"

    slow = LambdaFunction(FunctionSettings("slow", timeout=20), handler_factory=slow_factory, environment={"A": "1"})
    quick = LambdaFunction(
        FunctionSettings("quick", timeout=0.3), handler_factory=counted_factory, environment={"B": "1"}
    )
    first = threading.Thread(target=slow.invoke, args=({"source": "test"},))
    first.start()
    try:
        assert started.wait(WAIT)
        # WHEN another function's invocation times out while its environment waits to initialise
        result = quick.invoke({"source": "test"})
        assert result is not None and result.outcome is InvocationOutcome.TIMEOUT
        # THEN its thread gives up waiting, and that environment never initialises
        wait_for(lambda: quick.stats().late_threads_running == 0, timeout=WAIT)
    finally:
        release.set()
        first.join(WAIT)
    assert factory_calls == []
