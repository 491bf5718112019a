"""asg-namer redrive: a summary of the DLQ, then a move back to the source queue that never loses a message."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from cli import redrive
from sandbox import Sandbox
from scenarios import World
from tests.support.cli import hook_clients, make_stack

COPY = ("--max", "1000")  # --max takes the receive/send/delete path


def _launch_body(world: World, instance_id: str) -> str:
    """A lifecycle message as the hook writes it (docs/aws-behaviour.md), as it would sit in the DLQ."""
    return json.dumps(
        {
            "Origin": "EC2",
            "Destination": "AutoScalingGroup",
            "LifecycleHookName": world.hook_name,
            "AccountId": "123456789012",
            "RequestId": str(uuid.uuid4()),
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
            "AutoScalingGroupName": world.asg_name,
            "Service": "AWS Auto Scaling",
            "Time": "2021-01-19T00:36:26.533Z",
            "EC2InstanceId": instance_id,
            "LifecycleActionToken": str(uuid.uuid4()),
        }
    )


def _fill_dlq(sandbox: Sandbox, world: World, count: int, malformed: int = 0) -> set[str]:
    sqs = sandbox.client("sqs")
    bodies = {_launch_body(world, f"i-{uuid.uuid4().hex[:17]}") for _ in range(count)}
    bodies |= {f"not json {uuid.uuid4().hex}" for _ in range(malformed)}
    for body in bodies:
        sqs.send_message(QueueUrl=world.dlq_url, MessageBody=body)
    return bodies


def _drain(sandbox: Sandbox, url: str) -> list[str]:
    """Every visible message body (taken with a long visibility timeout, so each is seen once)."""
    sqs = sandbox.client("sqs")
    bodies: list[str] = []
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)
        if not answer.get("Messages"):
            return bodies
        bodies += [m["Body"] for m in answer["Messages"]]


def _launch_bodies(bodies: list[str]) -> list[str]:
    return [b for b in bodies if "TEST_NOTIFICATION" not in b]  # the hook's test message sits in the queue too


def test_empty_dlq_says_so_and_exits_0(world, cli):
    result = cli("redrive", "--dlq-url", world.dlq_url)
    assert result.code == 0, result.err
    assert "The DLQ is empty; nothing to redrive." in result.out


def test_dry_run_summarises_groups_instances_and_malformed_bodies_and_moves_nothing(sandbox, world, cli):
    # GIVEN three lifecycle messages and one malformed body in the DLQ
    bodies = _fill_dlq(sandbox, world, 3, malformed=1)
    instance_ids = [json.loads(b)["EC2InstanceId"] for b in bodies if b.startswith("{")]
    # WHEN asking for the summary only
    result = cli("redrive", "--dlq-url", world.dlq_url, "--dry-run")
    # THEN each message is listed with its group, instance, age and receive count; the bad one as malformed
    assert result.code == 0, result.err
    assert f"  {world.asg_name}: 3" in result.out
    assert "of which malformed: 1" in result.out
    for instance_id in instance_ids:
        line = next(line for line in result.out.splitlines() if instance_id in line)
        assert line.startswith(world.asg_name) and line.endswith("launch") and " h " in f"{line} "
    assert "malformed: body is not JSON" in result.out
    assert f"without --dry-run the messages go to {world.queue_url}" in result.out
    # AND every message is still in the DLQ, visible again
    assert sorted(_drain(sandbox, world.dlq_url)) == sorted(bodies)


def test_redrive_moves_everything_back_with_a_message_move_task(sandbox, world, cli):
    # GIVEN 23 messages in the DLQ (three batches' worth)
    bodies = _fill_dlq(sandbox, world, 22, malformed=1)
    # WHEN redriving
    result = cli("redrive", "--dlq-url", world.dlq_url)
    # THEN SQS's own move task did it, and the count is the task's
    assert result.code == 0, result.err
    assert "Started message move task" in result.out
    assert "Moved 23 message(s) with StartMessageMoveTask." in result.out
    # AND every message is in the source queue exactly once, and the DLQ is empty
    assert sorted(_launch_bodies(_drain(sandbox, world.queue_url))) == sorted(bodies)
    assert _drain(sandbox, world.dlq_url) == []


def test_redrive_falls_back_to_copying_where_move_tasks_are_not_supported(sandbox, world, cli):
    # GIVEN an endpoint that answers StartMessageMoveTask with UnsupportedOperation
    bodies = _fill_dlq(sandbox, world, 12)
    sandbox.controls.inject_error(
        "sqs", "StartMessageMoveTask", "custom", status=400, code="UnsupportedOperation", message="unsupported"
    )
    # WHEN redriving
    result = cli("redrive", "--dlq-url", world.dlq_url)
    # THEN it moves by receive/send/delete and reports the counts
    assert result.code == 0, result.err
    assert "StartMessageMoveTask is not available here" in result.out
    assert "Moved 12 message(s) by receive/send/delete; 0 lost, 0 duplicated." in result.out
    assert sorted(_launch_bodies(_drain(sandbox, world.queue_url))) == sorted(bodies)


def _tasks(sandbox: Sandbox, world: World) -> list[dict[str, Any]]:
    return sandbox.client("sqs").list_message_move_tasks(SourceArn=world.dlq_arn, MaxResults=10)["Results"]


def _wait_until_no_task_runs(sandbox: Sandbox, world: World) -> None:
    deadline = time.monotonic() + 60
    while any(t["Status"] in ("RUNNING", "CANCELLING") for t in _tasks(sandbox, world)):
        assert time.monotonic() < deadline, "the move task never ended"
        time.sleep(0.05)


def test_redrive_follows_the_task_it_started_not_an_older_or_newer_one(sandbox, world, cli, unique, monkeypatch):
    sqs = sandbox.client("sqs")
    scratch_url = sqs.create_queue(QueueName=f"scratch-{unique}")["QueueUrl"]
    scratch_arn = sqs.get_queue_attributes(QueueUrl=scratch_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # GIVEN an older task on the DLQ (it found nothing to move)
    sqs.start_message_move_task(SourceArn=world.dlq_arn, DestinationArn=scratch_arn)
    _wait_until_no_task_runs(sandbox, world)
    bodies = _fill_dlq(sandbox, world, 12)
    # AND another operator who, right after redrive's task has ended, starts and cancels a newer one
    starts = sandbox.journal.count("sqs", "StartMessageMoveTask")
    interfered: list[str] = []

    def newer_task(**_: Any) -> None:
        if interfered or sandbox.journal.count("sqs", "StartMessageMoveTask") == starts:
            return  # redrive has not started its task yet
        _wait_until_no_task_runs(sandbox, world)
        _fill_dlq(sandbox, world, 3)
        handle = sqs.start_message_move_task(
            SourceArn=world.dlq_arn, DestinationArn=scratch_arn, MaxNumberOfMessagesPerSecond=1
        )["TaskHandle"]
        sqs.cancel_message_move_task(TaskHandle=handle)
        interfered.append(handle)

    hook_clients(monkeypatch, {"before-call.sqs.ListMessageMoveTasks": newer_task})
    # WHEN redriving
    result = cli("redrive", "--dlq-url", world.dlq_url)
    # THEN it reports its own task: completed, 12 moved (not the newer cancelled one, nor the older empty one)
    assert interfered, "the newer task was never started"
    assert [t["Status"] for t in _tasks(sandbox, world)][0] in ("CANCELLING", "CANCELLED")
    assert result.code == 0, result.err
    assert "Moved 12 message(s) with StartMessageMoveTask." in result.out
    assert sorted(_launch_bodies(_drain(sandbox, world.queue_url))) == sorted(bodies)


def test_redrive_refuses_while_someone_elses_move_task_runs_on_the_dlq(sandbox, world, cli, unique):
    # GIVEN a move task already running on the DLQ (1 message per second, towards another queue)
    sqs = sandbox.client("sqs")
    scratch_url = sqs.create_queue(QueueName=f"scratch-{unique}")["QueueUrl"]
    scratch_arn = sqs.get_queue_attributes(QueueUrl=scratch_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    _fill_dlq(sandbox, world, 60)
    handle = sqs.start_message_move_task(
        SourceArn=world.dlq_arn, DestinationArn=scratch_arn, MaxNumberOfMessagesPerSecond=1
    )["TaskHandle"]
    try:
        # WHEN redriving
        result = cli("redrive", "--dlq-url", world.dlq_url)
    finally:
        with contextlib.suppress(ClientError):  # it ends by itself after a minute
            sqs.cancel_message_move_task(TaskHandle=handle)
    # THEN it says so in one line (exit 1) and copies nothing itself
    assert result.code == 1
    assert result.err.count("\n") == 1 and "already running" in result.err
    assert "by receive/send/delete" not in result.out
    assert _launch_bodies(_drain(sandbox, world.queue_url)) == []


def test_a_slow_copy_keeps_the_messages_hidden_so_each_moves_exactly_once(sandbox, world, cli, monkeypatch):
    # GIVEN 8 messages, a copy visibility of 6 s, and sends and deletes that each take 3.5 s (7 s together)
    bodies = _fill_dlq(sandbox, world, 8)
    monkeypatch.setattr(redrive, "MOVE_VISIBILITY_SECONDS", 6)
    reappeared: list[str] = []
    peek = sandbox.client("sqs")

    def slow(**_: Any) -> None:
        time.sleep(3.5)

    def slow_then_look(**_: Any) -> None:
        time.sleep(3.5)
        # AND another reader of the DLQ looks just before the delete (a second operator, a console)
        answer = peek.receive_message(QueueUrl=world.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        reappeared.extend(m["Body"] for m in answer.get("Messages", []))

    hook_clients(
        monkeypatch,
        {"before-send.sqs.SendMessageBatch": slow, "before-send.sqs.DeleteMessageBatch": slow_then_look},
    )
    # WHEN redriving by copy
    result = cli("redrive", "--dlq-url", world.dlq_url, *COPY)
    # THEN no message being moved ever reappeared in the DLQ, and each reached the source queue exactly once
    assert result.code == 0, result.err
    assert reappeared == []
    assert "Moved 8 message(s) by receive/send/delete; 0 lost, 0 duplicated." in result.out
    assert sorted(_launch_bodies(_drain(sandbox, world.queue_url))) == sorted(bodies)
    assert _drain(sandbox, world.dlq_url) == []


def test_redrive_with_max_moves_only_that_many(sandbox, world, cli, unique):
    bodies = _fill_dlq(sandbox, world, 5)
    stack = make_stack(sandbox, world, f"redrive-{unique}")
    result = cli("redrive", "--stack", stack, "--max", "2")
    assert result.code == 0, result.err
    moved = _launch_bodies(_drain(sandbox, world.queue_url))
    left = _drain(sandbox, world.dlq_url)
    assert len(moved) == 2 and len(left) == 3
    assert sorted(moved + left) == sorted(bodies)


def test_a_redrive_interrupted_half_way_loses_nothing_and_a_rerun_finishes(sandbox, world, cli):
    # GIVEN 25 messages in the DLQ and a source queue that refuses the second batch
    bodies = _fill_dlq(sandbox, world, 25)
    sandbox.controls.inject_error(
        "sqs", "SendMessageBatch", "custom", count=1, after=1, status=400, code="AccessDenied", message="denied"
    )
    # WHEN redriving by copy
    first = cli("redrive", "--dlq-url", world.dlq_url, *COPY)
    # THEN it stops with exit 1 after the first batch and says to run it again
    assert first.code == 1
    assert "Moved 10 message(s) before stopping; 0 are now in both queues" in first.out
    assert "run redrive again" in first.err and first.err.count("\n") == 1
    # WHEN running it again
    second = cli("redrive", "--dlq-url", world.dlq_url, *COPY)
    # THEN every original message is in exactly one queue: the source, once
    assert second.code == 0, second.err
    moved = _launch_bodies(_drain(sandbox, world.queue_url))
    assert sorted(moved) == sorted(bodies)
    assert _drain(sandbox, world.dlq_url) == []


def test_a_failed_delete_duplicates_but_never_loses(sandbox, world, cli):
    # GIVEN 15 messages and a DLQ that refuses the first delete (after the send succeeded)
    bodies = _fill_dlq(sandbox, world, 15)
    sandbox.controls.inject_error(
        "sqs", "DeleteMessageBatch", "custom", count=1, status=400, code="AccessDenied", message="denied"
    )
    # WHEN redriving by copy
    result = cli("redrive", "--dlq-url", world.dlq_url, *COPY)
    # THEN it stops, reporting the 10 messages now in both queues
    assert result.code == 1
    assert "Moved 10 message(s) before stopping; 10 are now in both queues" in result.out
    # AND nothing is lost: those 10 are in the source queue (their DLQ copies are hidden for a while)
    first_ten = _launch_bodies(_drain(sandbox, world.queue_url))
    assert len(first_ten) == 10 and set(first_ten) <= bodies
    # AND a rerun moves the 5 untouched ones, so every original message reached the source queue
    again = cli("redrive", "--dlq-url", world.dlq_url, *COPY)
    assert again.code == 0, again.err
    rest = _launch_bodies(_drain(sandbox, world.queue_url))
    assert sorted(first_ten + rest) == sorted(bodies)


def test_redrive_of_an_unknown_queue_fails_with_one_line(world, cli):
    result = cli("redrive", "--dlq-url", world.dlq_url + "-nope")
    assert result.code == 1 and result.err.count("\n") == 1 and "does not exist" in result.err


def test_redrive_usage_errors_exit_2(world, cli):
    assert cli("redrive").code == 2
    assert cli("redrive", "--dlq-url", world.dlq_url, "--stack", "s").code == 2
    assert cli("redrive", "--dlq-url", world.dlq_url, "--max", "0").code == 2
