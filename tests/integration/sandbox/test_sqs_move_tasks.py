"""SQS message move tasks in the sandbox, over HTTP, as AWS answers them (sandbox/sqs_move_tasks.py)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox import Sandbox

# Sandbox time runs this much slower than real time in tests that need a task to stay RUNNING: at 1 message
# per sandbox second the first message moves after 1000 real seconds.
FROZEN = 0.001
TIMEOUT = 60.0  # generous: polls end as soon as the condition holds


@dataclass(frozen=True)
class Queues:
    """A source queue whose RedrivePolicy points at a dead-letter queue (plain SQS, no product)."""

    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


@pytest.fixture
def world(sandbox: Sandbox, unique: str) -> Queues:
    sqs = sandbox.client("sqs")
    dlq_url = sqs.create_queue(QueueName=f"mt-{unique}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
    queue_url = sqs.create_queue(QueueName=f"mt-{unique}", Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Queues(queue_url, queue_arn, dlq_url, dlq_arn)


@pytest.fixture
def frozen_clock(sandbox: Sandbox) -> Iterator[Callable[[], None]]:
    """Slows the sandbox clock; the fixture's value lets time run again (the previous speed is restored)."""
    previous = sandbox.clock.scale
    sandbox.clock.set_scale(FROZEN)
    yield lambda: sandbox.clock.set_scale(previous)
    sandbox.clock.set_scale(previous)


def _fill(sandbox: Sandbox, queue_url: str, count: int) -> set[str]:
    sqs = sandbox.client("sqs")
    bodies = {f"body-{uuid.uuid4().hex}" for _ in range(count)}
    for start in range(0, count, 10):
        chunk = sorted(bodies)[start : start + 10]
        sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)]
        )
    return bodies


def _drain(sandbox: Sandbox, url: str) -> list[str]:
    sqs = sandbox.client("sqs")
    bodies: list[str] = []
    while answer := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages"):
        bodies += [m["Body"] for m in answer if "TEST_NOTIFICATION" not in m["Body"]]
    return bodies


def _tasks(sandbox: Sandbox, source_arn: str, max_results: int = 10) -> list[dict[str, Any]]:
    return list(sandbox.client("sqs").list_message_move_tasks(SourceArn=source_arn, MaxResults=max_results)["Results"])


def _wait_for(sandbox: Sandbox, source_arn: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        newest = _tasks(sandbox, source_arn, 1)[0]
        if done(newest):
            return newest
        time.sleep(0.05)
    raise AssertionError(f"move task never reached the expected state: {newest}")


def _error(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


def test_a_task_moves_every_dlq_message_to_the_destination_and_lists_its_counts(
    sandbox: Sandbox, world: Queues
) -> None:
    # GIVEN 25 messages in the DLQ
    bodies = _fill(sandbox, world.dlq_url, 25)
    # WHEN a move task to the source queue is started
    handle = sandbox.client("sqs").start_message_move_task(SourceArn=world.dlq_arn, DestinationArn=world.queue_arn)[
        "TaskHandle"
    ]
    assert handle
    task = _wait_for(sandbox, world.dlq_arn, lambda t: t["Status"] != "RUNNING")
    # THEN it completed, moved each message exactly once, and lists without a handle (only RUNNING tasks have one)
    assert task["Status"] == "COMPLETED"
    assert (task["ApproximateNumberOfMessagesMoved"], task["ApproximateNumberOfMessagesToMove"]) == (25, 25)
    assert task["SourceArn"] == world.dlq_arn and task["DestinationArn"] == world.queue_arn
    assert "TaskHandle" not in task and "MaxNumberOfMessagesPerSecond" not in task and "FailureReason" not in task
    assert isinstance(task["StartedTimestamp"], int)
    assert sorted(_drain(sandbox, world.queue_url)) == sorted(bodies)
    assert _drain(sandbox, world.dlq_url) == []


def test_without_a_destination_messages_go_back_to_the_dlqs_source_queue(sandbox: Sandbox, world: Queues) -> None:
    bodies = _fill(sandbox, world.dlq_url, 3)
    sandbox.client("sqs").start_message_move_task(SourceArn=world.dlq_arn)
    task = _wait_for(sandbox, world.dlq_arn, lambda t: t["Status"] != "RUNNING")
    assert task["Status"] == "COMPLETED" and "DestinationArn" not in task
    assert sorted(_drain(sandbox, world.queue_url)) == sorted(bodies)


def test_a_task_never_moves_faster_than_its_rate_on_the_sandbox_clock(sandbox: Sandbox, world: Queues) -> None:
    # GIVEN 30 messages and a clock that runs 20 times slower (500 messages per sandbox second = 25 per real one)
    _fill(sandbox, world.dlq_url, 30)
    previous = sandbox.clock.scale
    sandbox.clock.set_scale(0.05)
    try:
        started = sandbox.clock.now()
        sandbox.client("sqs").start_message_move_task(SourceArn=world.dlq_arn, DestinationArn=world.queue_arn)
        # WHEN watching it until it completes
        deadline = time.monotonic() + TIMEOUT
        task: dict[str, Any] = {}
        while time.monotonic() < deadline and task.get("Status") != "COMPLETED":
            task = _tasks(sandbox, world.dlq_arn, 1)[0]
            # THEN at every look it has moved at most 500 per second of sandbox time since it started
            assert task["ApproximateNumberOfMessagesMoved"] <= 500 * (sandbox.clock.now() - started)
            time.sleep(0.05)
    finally:
        sandbox.clock.set_scale(previous)
    assert task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 30


def test_one_active_task_per_source_queue(sandbox: Sandbox, world: Queues, frozen_clock: Callable[[], None]) -> None:
    # GIVEN a running task (1 message per second on a frozen clock: nothing moves yet)
    _fill(sandbox, world.dlq_url, 3)
    sqs = sandbox.client("sqs")
    handle = sqs.start_message_move_task(
        SourceArn=world.dlq_arn, DestinationArn=world.queue_arn, MaxNumberOfMessagesPerSecond=1
    )["TaskHandle"]
    running = _tasks(sandbox, world.dlq_arn, 1)[0]
    assert (running["Status"], running["TaskHandle"], running["MaxNumberOfMessagesPerSecond"]) == ("RUNNING", handle, 1)
    assert running["ApproximateNumberOfMessagesToMove"] == 3
    # WHEN a second task is started on the same DLQ
    status, code, message = _error(lambda: sqs.start_message_move_task(SourceArn=world.dlq_arn))
    # THEN AWS's answer: only one active task per source queue
    assert (status, code) == (400, "InvalidParameterValue")
    assert message == (
        "There is already a task running. Only one active task is allowed for a source queue arn at a given time."
    )
    # AND once the first is cancelled, it keeps what it moved, and a new one may start
    assert sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"] == 0
    frozen_clock()
    cancelled = _wait_for(sandbox, world.dlq_arn, lambda t: t["Status"] != "CANCELLING")
    assert cancelled["Status"] == "CANCELLED" and "TaskHandle" not in cancelled
    sqs.start_message_move_task(SourceArn=world.dlq_arn, DestinationArn=world.queue_arn)
    newest_first = [t["Status"] for t in _tasks(sandbox, world.dlq_arn)]
    assert newest_first[1] == "CANCELLED" and len(newest_first) == 2
    # AND cancelling a task that is no longer running finds no task
    assert _error(lambda: sqs.cancel_message_move_task(TaskHandle=handle))[:2] == (404, "ResourceNotFoundException")


def test_a_destination_deleted_under_a_running_task_fails_it(
    sandbox: Sandbox, world: Queues, unique: str, frozen_clock: Callable[[], None]
) -> None:
    # GIVEN a running task towards a queue that is then deleted
    sqs = sandbox.client("sqs")
    destination_url = sqs.create_queue(QueueName=f"dest-{unique}")["QueueUrl"]
    destination_arn = sqs.get_queue_attributes(QueueUrl=destination_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    _fill(sandbox, world.dlq_url, 2)
    sqs.start_message_move_task(SourceArn=world.dlq_arn, DestinationArn=destination_arn)
    sqs.delete_queue(QueueUrl=destination_url)
    # WHEN time runs
    frozen_clock()
    task = _wait_for(sandbox, world.dlq_arn, lambda t: t["Status"] != "RUNNING")
    # THEN the task failed with SQS's reason, and the messages are still in the DLQ
    assert (task["Status"], task["FailureReason"]) == ("FAILED", "AWS.SimpleQueueService.NonExistentQueue")
    assert len(_drain(sandbox, world.dlq_url)) == 2


def test_start_validates_its_queues_and_rate_as_aws_does(sandbox: Sandbox, world: Queues) -> None:
    sqs = sandbox.client("sqs")
    # a queue that no other queue uses as its DLQ
    assert _error(lambda: sqs.start_message_move_task(SourceArn=world.queue_arn)) == (
        400,
        "InvalidParameterValue",
        "Source queue must be configured as a Dead Letter Queue.",
    )
    assert _error(lambda: sqs.start_message_move_task(SourceArn=world.dlq_arn + "-nope")) == (
        404,
        "ResourceNotFoundException",
        "The resource that you specified for the SourceArn parameter doesn't exist.",
    )
    assert _error(
        lambda: sqs.start_message_move_task(SourceArn=world.dlq_arn, DestinationArn=world.queue_arn + "-nope")
    ) == (
        404,
        "ResourceNotFoundException",
        "The resource that you specified for the DestinationArn parameter doesn't exist.",
    )
    assert _error(lambda: sqs.start_message_move_task(SourceArn=world.dlq_arn, MaxNumberOfMessagesPerSecond=501))[
        :2
    ] == (400, "InvalidParameterValue")
    assert _error(lambda: sqs.cancel_message_move_task(TaskHandle="not a handle")) == (
        400,
        "InvalidParameterValue",
        "Value for parameter TaskHandle is invalid.",
    )
    assert _tasks(sandbox, world.dlq_arn) == []
