"""The emulated SQS -> Lambda trigger (event source mapping), exercised over HTTP against the sandbox."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.event_source_mapping import EventSourceMappingSettings
from sandbox.invocation import InvocationOutcome
from sandbox.lambda_context import FunctionSettings, LambdaContext
from sandbox.trigger import SqsTrigger
from tests.support.waiting import wait_for

RBIF = ["ReportBatchItemFailures"]
FUNCTION = FunctionSettings("trigger-test")
WAIT = 15.0  # generous bound for anything we wait for; never an assertion on elapsed time


# ------------------------------------------------------------------------------------------------ helpers


@pytest.fixture
def sqs(sandbox: Sandbox) -> Any:
    return sandbox.client("sqs")


@pytest.fixture
def make_queue(sqs: Any, unique: str) -> Callable[..., str]:
    """Creates a uniquely named queue; with ``max_receive_count`` it also gets a DLQ (see ``dlq_of``)."""
    counter = iter(range(1000))

    def make(visibility: int = 30, max_receive_count: int | None = None, **attributes: str) -> str:
        name = f"trigger-{unique}-{next(counter)}"
        attrs = {"VisibilityTimeout": str(visibility), **attributes}
        if max_receive_count is not None:
            dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
        return str(sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"])

    return make


@pytest.fixture
def make_trigger(sandbox: Sandbox) -> Iterator[Callable[..., SqsTrigger]]:
    """Builds triggers pointed at the sandbox and stops every one of them after the test."""
    created: list[SqsTrigger] = []

    def make(
        queue_url: str, handler: Any = None, *, function: FunctionSettings = FUNCTION, **settings: Any
    ) -> SqsTrigger:
        trigger = SqsTrigger(queue_url, handler, function=function, endpoint_url=sandbox.endpoint_url, **settings)
        created.append(trigger)
        return trigger

    yield make
    for trigger in created:
        trigger.stop(timeout=5)


def send(sqs: Any, queue_url: str, *bodies: str, **kwargs: Any) -> list[str]:
    return [sqs.send_message(QueueUrl=queue_url, MessageBody=body, **kwargs)["MessageId"] for body in bodies]


def counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def dlq_of(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    dlq_name = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[1]
    return str(sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"])


class Recorder:
    """A handler that keeps every event and context it was given and returns a fixed response."""

    def __init__(self, response: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[LambdaContext] = []
        self.response = response

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        return self.response


# ------------------------------------------------------------------------------------------- event shape


def test_event_has_every_field_of_a_lambda_sqs_event(sqs: Any, make_queue: Any, make_trigger: Any) -> None:
    # GIVEN a message with a string and a binary message attribute
    queue_url = make_queue()
    body = json.dumps({"EC2InstanceId": "i-0598c7d356eba48d7"})
    (message_id,) = send(
        sqs,
        queue_url,
        body,
        MessageAttributes={
            "trace": {"DataType": "String", "StringValue": "abc"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    handler = Recorder()
    trigger = make_trigger(queue_url, handler)

    # WHEN the trigger delivers it
    record = trigger.poll_once(wait_seconds=WAIT)

    # THEN the handler got one Lambda-shaped record with every field, typed as Lambda types them
    assert record is not None and record.outcome == InvocationOutcome.SUCCESS
    (event,) = handler.events
    assert list(event) == ["Records"]
    (rec,) = event["Records"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert rec["messageId"] == message_id
    assert isinstance(rec["receiptHandle"], str) and rec["receiptHandle"]
    assert rec["body"] == body
    assert rec["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()  # noqa: S324 - SQS's own checksum
    assert rec["eventSource"] == "aws:sqs"
    assert rec["eventSourceARN"] == queue_arn
    assert rec["awsRegion"] == "us-east-1"
    attributes = rec["attributes"]
    assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        attributes
    )
    assert all(isinstance(value, str) for value in attributes.values())
    assert attributes["ApproximateReceiveCount"] == "1"
    assert attributes["SentTimestamp"].isdigit() and attributes["ApproximateFirstReceiveTimestamp"].isdigit()
    assert int(attributes["ApproximateFirstReceiveTimestamp"]) >= int(attributes["SentTimestamp"])
    assert rec["messageAttributes"] == {
        "trace": {"stringValue": "abc", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    assert isinstance(rec["md5OfMessageAttributes"], str)
    # AND the event is plain JSON, as the Lambda service hands it over
    assert json.loads(json.dumps(event)) == event
    # AND the message was deleted after the successful invocation
    assert counts(sqs, queue_url) == (0, 0)


def test_event_validates_against_the_powertools_sqs_model(sqs: Any, make_queue: Any, make_trigger: Any) -> None:
    parser_models = pytest.importorskip("aws_lambda_powertools.utilities.parser.models")
    # GIVEN a plain message without message attributes
    queue_url = make_queue()
    send(sqs, queue_url, "hello")
    handler = Recorder()

    # WHEN it is delivered
    make_trigger(queue_url, handler).poll_once(wait_seconds=WAIT)

    # THEN Powertools' own SQS event model accepts the event
    parsed = parser_models.SqsModel.model_validate(handler.events[0])
    assert parsed.Records[0].body == "hello"
    assert parsed.Records[0].attributes.ApproximateReceiveCount == "1"


def test_context_is_lambda_like_and_accepted_by_powertools_logger(sqs: Any, make_queue: Any, make_trigger: Any) -> None:
    from aws_lambda_powertools import Logger  # noqa: PLC0415

    # GIVEN a handler decorated with Logger.inject_lambda_context
    stream = io.StringIO()
    logger = Logger(service="trigger-test", stream=stream)
    seen: list[Any] = []

    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: Any) -> None:
        seen.append(context)
        logger.info("handled")

    queue_url = make_queue()
    send(sqs, queue_url, "x", "y")
    trigger = make_trigger(queue_url, handler, function=FunctionSettings("namer", timeout=10, memory_size=256))

    # WHEN two invocations run
    trigger.poll_once(wait_seconds=WAIT)
    send(sqs, queue_url, "z")
    trigger.poll_once(wait_seconds=WAIT)

    # THEN the context carries the Lambda attributes and a fresh request id per invocation
    first, second = seen
    assert first.function_name == "namer"
    assert first.function_version == "$LATEST"
    assert first.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:namer"
    assert first.memory_limit_in_mb == 256
    assert first.log_group_name == "/aws/lambda/namer"
    assert "[$LATEST]" in first.log_stream_name
    assert 0 < first.get_remaining_time_in_millis() <= 10_000
    assert first.aws_request_id != second.aws_request_id
    # AND Powertools logged the context fields
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["function_name"] == "namer"
    assert lines[0]["function_request_id"] == first.aws_request_id
    assert lines[0]["function_memory_size"] == 256
    # AND the invocation log has the same request ids
    assert [r.request_id for r in trigger.stats().invocation_log] == [first.aws_request_id, second.aws_request_id]


# ------------------------------------------------------------------------------------ batching settings


def test_batch_size_is_respected(sqs: Any, make_queue: Any, make_trigger: Any) -> None:
    # GIVEN seven messages and a mapping with BatchSize 3
    queue_url = make_queue()
    send(sqs, queue_url, *[f"m{i}" for i in range(7)])
    handler = Recorder()
    trigger = make_trigger(queue_url, handler, mapping=EventSourceMappingSettings(batch_size=3))

    # WHEN the trigger polls until nothing is left
    while trigger.poll_once(wait_seconds=0.5) is not None:
        pass

    # THEN no batch exceeded three records and all seven were delivered once
    sizes = [len(event["Records"]) for event in handler.events]
    assert sizes == [3, 3, 1]
    assert sorted(r["body"] for e in handler.events for r in e["Records"]) == sorted(f"m{i}" for i in range(7))


def test_batch_size_above_ten_is_gathered_with_several_receives(
    sandbox: Sandbox, sqs: Any, make_queue: Any, make_trigger: Any
) -> None:
    # GIVEN 25 waiting messages and BatchSize 25 (which needs a batching window)
    queue_url = make_queue()
    send(sqs, queue_url, *[f"m{i}" for i in range(25)])
    handler = Recorder()
    trigger = make_trigger(
        queue_url, handler, mapping=EventSourceMappingSettings(batch_size=25, maximum_batching_window_in_seconds=5)
    )
    receives_before = sandbox.journal.count("sqs", "ReceiveMessage")

    # WHEN one batch is gathered
    record = trigger.poll_once(wait_seconds=WAIT)

    # THEN it holds all 25 (the batch filled up, so the window did not have to pass)
    assert record is not None and record.batch_size == 25
    assert len({r["messageId"] for r in handler.events[0]["Records"]}) == 25
    # AND it took at least three ReceiveMessage calls (ten messages at most per call)
    assert sandbox.journal.count("sqs", "ReceiveMessage") - receives_before >= 3


def test_batching_window_gathers_messages_that_arrive_during_it(sqs: Any, make_queue: Any, make_trigger: Any) -> None:
    # GIVEN a mapping with a 2-second batching window and a first message
    queue_url = make_queue()
    send(sqs, queue_url, "first")
    handler = Recorder()
    trigger = make_trigger(
        queue_url, handler, mapping=EventSourceMappingSettings(batch_size=10, maximum_batching_window_in_seconds=2)
    )
    result: list[Any] = []
    poller = threading.Thread(target=lambda: result.append(trigger.poll_once(wait_seconds=WAIT)))

    # WHEN more messages arrive after the first one was received, while the window is open
    poller.start()
    wait_for(lambda: counts(sqs, queue_url)[1] == 1, timeout=WAIT)
    send(sqs, queue_url, "second", "third")
    poller.join(WAIT)

    # THEN all three went to the function in a single (not full) batch
    assert len(handler.events) == 1
    assert sorted(r["body"] for r in handler.events[0]["Records"]) == ["first", "second", "third"]
    assert result[0].batch_size == 3


def test_without_window_a_batch_is_what_one_receive_returned(sqs: Any, make_queue: Any, make_trigger: Any) -> None:
    # GIVEN no batching window
    queue_url = make_queue()
    send(sqs, queue_url, "first")
    handler = Recorder()
    trigger = make_trigger(queue_url, handler, mapping=EventSourceMappingSettings(batch_size=10))

    # WHEN a message is delivered
    record = trigger.poll_once(wait_seconds=WAIT)

    # THEN the function is invoked with what was there, without waiting for a full batch
    assert record is not None and record.batch_size == 1


def test_maximum_concurrency_is_reached_and_never_exceeded(sqs: Any, make_queue: Any, make_trigger: Any) -> None:
    # GIVEN a slow handler that tracks how many copies of it run at once and how many messages are in flight
    queue_url = make_queue()
    lock = threading.Lock()
    running, peak, in_flight_peak = 0, 0, 0

    def handler(event: dict[str, Any], context: Any) -> None:
        nonlocal running, peak, in_flight_peak
        with lock:
            running += 1
            peak = max(peak, running)
        in_flight_peak = max(in_flight_peak, counts(sqs, queue_url)[1])
        time.sleep(0.3)
        with lock:
            running -= 1

    send(sqs, queue_url, *[f"m{i}" for i in range(12)])
    trigger = make_trigger(queue_url, handler, mapping=EventSourceMappingSettings(batch_size=1, maximum_concurrency=3))

    # WHEN the trigger runs until the queue is drained
    with trigger:
        trigger.drain(timeout=WAIT)

    # THEN exactly three invocations ran in parallel at the peak, never more
    assert peak == 3
    assert trigger.stats().max_parallel_invocations == 3
    # AND the pollers never received more messages than free invocation slots could take
    assert in_flight_peak <= 3
    stats = trigger.stats()
    assert stats.invocations == 12 and stats.records_succeeded == 12
    assert counts(sqs, queue_url) == (0, 0)


# ---------------------------------------------------------------------------------------- failure modes


def test_partial_failures_are_redelivered_then_moved_to_the_dlq(sqs: Any, make_queue: Any, make_trigger: Any) -> None:
    # GIVEN a queue with a 1-second visibility timeout and a DLQ after two receives
    queue_url = make_queue(visibility=1, max_receive_count=2)
    send(sqs, queue_url, "ok-1", "ok-2", "bad-1", "bad-2")
    deliveries: list[tuple[str, str]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for rec in event["Records"]:
            deliveries.append((rec["body"], rec["attributes"]["ApproximateReceiveCount"]))
            if rec["body"].startswith("bad"):
                failures.append({"itemIdentifier": rec["messageId"]})
        return {"batchItemFailures": failures}

    trigger = make_trigger(
        queue_url,
        handler,
        mapping=EventSourceMappingSettings(function_response_types=RBIF),
        function=FunctionSettings("trigger-test", timeout=1),
    )

    # WHEN the trigger runs until the source queue is empty
    with trigger:
        trigger.drain(timeout=WAIT)

    # THEN the successes were delivered once and deleted
    assert sorted(d for d in deliveries if d[0].startswith("ok")) == [("ok-1", "1"), ("ok-2", "1")]
    # AND each failure came back after the visibility timeout with its receive count incremented
    assert sorted(d for d in deliveries if d[0].startswith("bad")) == [
        ("bad-1", "1"),
        ("bad-1", "2"),
        ("bad-2", "1"),
        ("bad-2", "2"),
    ]
    # AND after maxReceiveCount the failures landed in the DLQ
    dlq_url = dlq_of(sqs, queue_url)
    moved = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert sorted(m["Body"] for m in moved) == ["bad-1", "bad-2"]
    stats = trigger.stats()
    assert stats.records_succeeded == 2
    assert stats.records_failed == 4
    assert stats.whole_batch_failures == 0
    assert {r.outcome for r in stats.invocation_log} == {InvocationOutcome.PARTIAL}


@pytest.mark.parametrize(
    "response",
    [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, {"statusCode": 200}],
    ids=["none", "empty-object", "empty-list", "null-list", "no-key"],
)
def test_report_batch_item_failures_responses_meaning_all_succeeded(
    sqs: Any, make_queue: Any, make_trigger: Any, response: Any
) -> None:
    # GIVEN a function that reports no failure in one of the accepted ways
    queue_url = make_queue()
    send(sqs, queue_url, "a", "b")
    trigger = make_trigger(
        queue_url, Recorder(response), mapping=EventSourceMappingSettings(function_response_types=RBIF)
    )

    # WHEN the batch is handled
    record = trigger.poll_once(wait_seconds=WAIT)

    # THEN every message was deleted
    assert record is not None and record.outcome == InvocationOutcome.SUCCESS
    assert counts(sqs, queue_url) == (0, 0)


def test_without_report_batch_item_failures_a_normal_return_deletes_the_whole_batch(
    sqs: Any, make_queue: Any, make_trigger: Any
) -> None:
    # GIVEN a mapping without ReportBatchItemFailures and a function that "reports" a failure anyway
    queue_url = make_queue()
    send(sqs, queue_url, "a", "b")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}

    trigger = make_trigger(queue_url, handler)

    # WHEN the batch is handled
    record = trigger.poll_once(wait_seconds=WAIT)

    # THEN Lambda ignores the response: the whole batch is deleted
    assert record is not None and record.outcome == InvocationOutcome.SUCCESS
    assert counts(sqs, queue_url) == (0, 0)


def test_handler_raising_fails_the_whole_batch(sqs: Any, make_queue: Any, make_trigger: Any) -> None:
    # GIVEN a function that raises, even with ReportBatchItemFailures on
    queue_url = make_queue()
    send(sqs, queue_url, "a", "b", "c")

    def handler(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("boom")

    trigger = make_trigger(queue_url, handler, mapping=EventSourceMappingSettings(function_response_types=RBIF))

    # WHEN the batch is handled
    record = trigger.poll_once(wait_seconds=WAIT)

    # THEN nothing was deleted: all three stay in flight until the visibility timeout
    assert record is not None and record.outcome == InvocationOutcome.EXCEPTION
    assert record.error == "RuntimeError: boom"
    assert set(record.failed_message_ids) == set(record.message_ids)
    assert counts(sqs, queue_url) == (0, 3)
    stats = trigger.stats()
    assert stats.batch_failures["exception"] == 1
    assert stats.records_in_failed_batches == 3 and stats.records_succeeded == 0


class _NotJson:
    pass


@pytest.mark.parametrize(
    "make_response",
    [
        lambda ids: "ok",
        lambda ids: [{"itemIdentifier": ids[0]}],
        lambda ids: {"batchItemFailures": "all"},
        lambda ids: {"batchItemFailures": [ids[0]]},
        lambda ids: {"batchItemFailures": [{"itemIdentifier": ""}]},
        lambda ids: {"batchItemFailures": [{"itemIdentifier": None}]},
        lambda ids: {"batchItemFailures": [{"messageId": ids[0]}]},
        lambda ids: {"batchItemFailures": [{"itemIdentifier": "00000000-0000-0000-0000-000000000000"}]},
        lambda ids: {"batchItemFailures": [{"itemIdentifier": _NotJson()}]},
    ],
    ids=[
        "string",
        "list",
        "failures-not-a-list",
        "bare-id",
        "empty-id",
        "null-id",
        "bad-key",
        "unknown-id",
        "not-serialisable",
    ],
)
def test_invalid_partial_batch_response_fails_the_whole_batch(
    sqs: Any, make_queue: Any, make_trigger: Any, make_response: Callable[[list[str]], Any]
) -> None:
    # GIVEN a function whose ReportBatchItemFailures response is invalid
    queue_url = make_queue()
    send(sqs, queue_url, "a", "b")

    def handler(event: dict[str, Any], context: Any) -> Any:
        return make_response([r["messageId"] for r in event["Records"]])

    trigger = make_trigger(queue_url, handler, mapping=EventSourceMappingSettings(function_response_types=RBIF))

    # WHEN the batch is handled
    record = trigger.poll_once(wait_seconds=WAIT)

    # THEN the whole batch failed: nothing deleted
    assert record is not None and record.outcome == InvocationOutcome.INVALID_RESPONSE
    assert counts(sqs, queue_url) == (0, 2)
    assert trigger.stats().batch_failures["invalid_response"] == 1


def test_function_timeout_fails_the_batch_and_discards_the_late_result(
    sqs: Any, make_queue: Any, make_trigger: Any
) -> None:
    # GIVEN a function that reads its remaining time twice, then hangs past its 0.5 s timeout
    queue_url = make_queue()
    send(sqs, queue_url, "slow")
    readings: list[int] = []
    release = threading.Event()
    returned = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> None:
        readings.append(context.get_remaining_time_in_millis())
        time.sleep(0.05)
        readings.append(context.get_remaining_time_in_millis())
        release.wait(WAIT)
        returned.set()  # a normal return that would have deleted the batch

    trigger = make_trigger(queue_url, handler, function=FunctionSettings("trigger-test", timeout=0.5))

    try:
        # WHEN the batch is handled
        record = trigger.poll_once(wait_seconds=WAIT)

        # THEN the invocation timed out and nothing was deleted
        assert record is not None and record.outcome == InvocationOutcome.TIMEOUT
        assert record.error is not None and "timed out" in record.error
        assert counts(sqs, queue_url) == (0, 1)
        assert trigger.stats().batch_failures["timeout"] == 1
        assert trigger.stats().late_threads_running == 1
        # AND the context's remaining time was counting down from the timeout
        first, second = readings
        assert 0 < first <= 500
        assert second < first
    finally:
        release.set()

    # AND when the late handler finally returns, its result is discarded (the message is still not deleted)
    assert returned.wait(WAIT)
    wait_for(lambda: trigger.stats().late_threads_running == 0, timeout=WAIT)
    assert counts(sqs, queue_url) == (0, 1)
    assert trigger.stats().records_succeeded == 0


def test_timed_out_environment_is_discarded(sqs: Any, make_queue: Any, make_trigger: Any) -> None:
    # GIVEN a factory-built handler that hangs on its first call only
    queue_url = make_queue(visibility=1)
    send(sqs, queue_url, "m")
    release = threading.Event()
    calls: list[int] = []

    def factory() -> Callable[..., None]:
        def handler(event: dict[str, Any], context: Any) -> None:
            calls.append(1)
            if len(calls) == 1:
                release.wait(WAIT)

        return handler

    trigger = make_trigger(queue_url, handler_factory=factory, function=FunctionSettings("trigger-test", timeout=0.5))
    try:
        # WHEN the first invocation times out and the message comes back
        first = trigger.poll_once(wait_seconds=WAIT)
        second = trigger.poll_once(wait_seconds=WAIT)
    finally:
        release.set()

    # THEN the retry ran cold in a new execution environment and succeeded
    assert first is not None and first.outcome == InvocationOutcome.TIMEOUT
    assert second is not None and second.outcome == InvocationOutcome.SUCCESS
    assert second.cold_start and second.environment_id != first.environment_id


def test_init_failure_fails_the_batch_and_a_fixed_configuration_recovers(
    sqs: Any, make_queue: Any, make_trigger: Any
) -> None:
    # GIVEN a handler factory that fails while the configuration is broken
    queue_url = make_queue(visibility=1)
    send(sqs, queue_url, "m")
    broken = True
    factory_calls = 0
    handler = Recorder()

    def factory() -> Recorder:
        nonlocal factory_calls
        factory_calls += 1
        if broken:
            raise KeyError("NAME_TAG_KEY")
        return handler

    trigger = make_trigger(queue_url, handler_factory=factory, function=FunctionSettings("trigger-test", timeout=1))

    # WHEN the first invocation runs with the broken configuration
    first = trigger.poll_once(wait_seconds=WAIT)

    # THEN it fails as an init error and nothing is deleted
    assert first is not None and first.outcome == InvocationOutcome.INIT_ERROR
    assert first.error is not None and "NAME_TAG_KEY" in first.error
    assert handler.events == []
    assert counts(sqs, queue_url)[1] == 1

    # WHEN the configuration is fixed and the message comes back after its visibility timeout
    broken = False
    second = trigger.poll_once(wait_seconds=WAIT)

    # THEN the factory is tried again, succeeds, and the redelivered message is handled and deleted
    assert second is not None and second.outcome == InvocationOutcome.SUCCESS and second.cold_start
    assert factory_calls == 2
    assert handler.events[0]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert counts(sqs, queue_url) == (0, 0)
    stats = trigger.stats()
    assert stats.batch_failures["init_error"] == 1 and stats.inits == 1

    # AND a warm environment does not run the factory again
    send(sqs, queue_url, "n")
    third = trigger.poll_once(wait_seconds=WAIT)
    assert third is not None and not third.cold_start
    assert factory_calls == 2


# ------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"batch_size": 0}, "BatchSize"),
        ({"batch_size": 10_001, "maximum_batching_window_in_seconds": 1}, "BatchSize"),
        ({"maximum_batching_window_in_seconds": -1}, "MaximumBatchingWindowInSeconds"),
        ({"maximum_batching_window_in_seconds": 301}, "MaximumBatchingWindowInSeconds"),
        ({"maximum_concurrency": 1}, "MaximumConcurrency"),
        ({"maximum_concurrency": 1001}, "MaximumConcurrency"),
        ({"batch_size": 11}, "MaximumBatchingWindowInSeconds"),
        ({"function_response_types": ["ReportEverything"]}, "FunctionResponseTypes"),
        ({"timeout": 6}, "VisibilityTimeout"),
        ({"timeout": 0}, "Timeout"),
        ({"name": "no spaces allowed"}, "FunctionName"),
    ],
    ids=[
        "batch-0",
        "batch-10001",
        "window-negative",
        "window-301",
        "concurrency-1",
        "concurrency-1001",
        "batch-11-without-window",
        "unknown-response-type",
        "timeout-above-visibility",
        "timeout-0",
        "bad-function-name",
    ],
)
def test_invalid_mapping_settings_are_rejected(
    make_queue: Any, make_trigger: Any, settings: dict[str, Any], named: str
) -> None:
    # GIVEN a queue with a 5-second visibility timeout
    queue_url = make_queue(visibility=5)

    # WHEN / THEN creating the mapping (or the function) with a bad setting fails, naming the setting
    function_settings = {k: v for k, v in settings.items() if k in ("name", "timeout")}
    with pytest.raises(ValueError, match=named):
        mapping = EventSourceMappingSettings(**{k: v for k, v in settings.items() if k not in function_settings})
        function = FunctionSettings(**{"name": "trigger-test", **function_settings})
        make_trigger(queue_url, Recorder(), mapping=mapping, function=function)


def test_valid_edge_settings_are_accepted(make_queue: Any, make_trigger: Any) -> None:
    # GIVEN a queue whose visibility timeout equals the function timeout
    queue_url = make_queue(visibility=5)

    # WHEN the mapping uses the extreme valid values
    trigger = make_trigger(
        queue_url,
        Recorder(),
        mapping=EventSourceMappingSettings(
            batch_size=10_000, maximum_batching_window_in_seconds=300, maximum_concurrency=1000
        ),
        function=FunctionSettings("trigger-test", timeout=5),
    )

    # THEN it is created
    assert trigger.mapping.batch_size == 10_000 and trigger.mapping.maximum_concurrency == 1000


def test_handler_or_factory_is_required(make_queue: Any, make_trigger: Any) -> None:
    queue_url = make_queue()
    with pytest.raises(ValueError, match="handler"):
        make_trigger(queue_url)
    with pytest.raises(ValueError, match="handler"):
        make_trigger(queue_url, Recorder(), handler_factory=Recorder)


def test_settings_read_event_source_mapping_properties(sandbox: Sandbox, sqs: Any, make_queue: Any) -> None:
    # GIVEN the properties of an AWS::Lambda::EventSourceMapping and the queue's ARN
    queue_url = make_queue()
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    properties = {
        "BatchSize": 5,
        "MaximumBatchingWindowInSeconds": 2,
        "ScalingConfig": {"MaximumConcurrency": 4},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "FunctionName": "not-a-mapping-setting",
    }

    # WHEN a trigger is built from them
    trigger = SqsTrigger(
        queue_arn,
        Recorder(),
        mapping=EventSourceMappingSettings.from_properties(properties),
        function=FunctionSettings("trigger-test", timeout=10),
        endpoint_url=sandbox.endpoint_url,
    )

    # THEN the settings and the queue were taken over
    mapping = trigger.mapping
    assert trigger.queue_url == queue_url
    assert (mapping.batch_size, mapping.maximum_batching_window_in_seconds, mapping.maximum_concurrency) == (5, 2, 4)
    assert mapping.report_batch_item_failures


def test_stopped_trigger_consumes_nothing_and_reports_each_invocation(
    sqs: Any, make_queue: Any, make_trigger: Any
) -> None:
    # GIVEN a running trigger that reports every settled invocation
    queue_url = make_queue()
    reported: list[Any] = []
    trigger = make_trigger(queue_url, Recorder(), on_invocation=reported.append)
    send(sqs, queue_url, "before")

    # WHEN it handles a message and is then stopped
    with trigger:
        trigger.drain(timeout=WAIT)
        assert trigger.running
    send(sqs, queue_url, "after")

    # THEN the first message was reported and deleted, and the one sent after stop() stays on the queue
    assert not trigger.running
    assert [r.outcome for r in reported] == [InvocationOutcome.SUCCESS]
    assert trigger.stats().invocation_log == tuple(reported)
    assert not trigger.wait_until_idle(timeout=0.5)
    assert counts(sqs, queue_url) == (1, 0)
