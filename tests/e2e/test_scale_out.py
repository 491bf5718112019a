"""End to end: ASG scale-out -> hook -> queue -> trigger emulator -> handler -> named, InService instances."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import Sandbox
from sandbox.event_source_mapping import REPORT_BATCH_ITEM_FAILURES, EventSourceMappingSettings
from sandbox.faults import ErrorKind, FaultControls
from sandbox.lambda_context import FunctionSettings
from sandbox.lambda_runtime import FunctionLogs, capture_function_output, environment_factory
from sandbox.trigger import SqsTrigger
from scenarios import World, build_world
from tests.support.waiting import wait_for
from tests.support.world import expected_name, group_instances


@pytest.fixture
def function_logs() -> FunctionLogs:
    return FunctionLogs()


@pytest.fixture
def world(sandbox: Sandbox, unique: str) -> World:
    # A 10 s visibility timeout and maxReceiveCount 3 let a poison message reach the DLQ in half a minute,
    # and leave a real message three tries of 10 s even when a loaded machine slows every cold start.
    return build_world(f"e2e-{unique}", endpoint_url=sandbox.endpoint_url, visibility_timeout=10, max_receive_count=3)


@pytest.fixture
def trigger(
    sandbox: Sandbox, world: World, controls: FaultControls, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SqsTrigger]:
    """Started by the test inside its log capture: pytest swaps sys.stdout between setup and call."""
    monkeypatch.setenv("TIME_MARGIN_SECONDS", "2")  # sized for the 10 s function timeout below
    running = SqsTrigger(
        world.queue_url,
        handler_factory=environment_factory("handler.app"),
        function=FunctionSettings("asg-namer", timeout=10),
        mapping=EventSourceMappingSettings(
            batch_size=10,
            maximum_batching_window_in_seconds=0.5,
            maximum_concurrency=3,
            function_response_types=(REPORT_BATCH_ITEM_FAILURES,),
        ),
        endpoint_url=sandbox.endpoint_url,
    )
    yield running
    running.stop()


def in_service(sandbox: Sandbox, world: World) -> int:
    return sum(1 for i in group_instances(sandbox, world).values() if i["state"] == "InService")


def dlq_bodies(sandbox: Sandbox, world: World) -> list[str]:
    sqs = sandbox.client("sqs")
    answer = sqs.receive_message(QueueUrl=world.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [m["Body"] for m in answer.get("Messages", [])]


def test_scale_out_of_twenty_ends_named_and_in_service_and_poison_reaches_the_dlq(
    sandbox: Sandbox, world: World, trigger: SqsTrigger, function_logs: FunctionLogs
) -> None:
    with capture_function_output(function_logs):
        trigger.start()
        _scale_out_with_poison(sandbox, world, trigger, function_logs)


def _scale_out_with_poison(sandbox: Sandbox, world: World, trigger: SqsTrigger, function_logs: FunctionLogs) -> None:
    # GIVEN realistic latency and a poison message already in the queue
    sandbox.controls.set_latency(base_ms=10)
    sandbox.client("sqs").send_message(QueueUrl=world.queue_url, MessageBody='{"not": "a notification"}')
    # WHEN the group scales out to twenty
    sandbox.client("autoscaling").set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=20)
    # THEN all twenty become InService, each with the convention's name
    wait_for(lambda: in_service(sandbox, world) == 20, interval=0.2)
    for facts in group_instances(sandbox, world).values():
        assert facts["name"] == expected_name(facts["ip"])
    # AND each entered service only after its Name was written (the sandbox records the order)
    entered = [e for e in sandbox.lifecycle.events(asg=world.asg_name) if e.to_state == "InService"]
    assert len(entered) == 20
    assert all(event.tags.get("Name") for event in entered)
    # AND the poison message reached the DLQ after maxReceiveCount receives, alone
    wait_for(lambda: len(dlq_bodies(sandbox, world)) == 1, interval=0.2)
    assert dlq_bodies(sandbox, world) == ['{"not": "a notification"}']
    # AND nothing is left pending or in the queue
    assert sandbox.lifecycle.pending_actions(asg=world.asg_name) == []
    assert trigger.wait_until_idle(timeout=300)
    totals = function_logs.metric_totals()
    assert totals["LifecycleActionsCompleted"] == 20
    assert totals["MalformedMessages"] == 3
    # Exactly one name per instance, unless an invocation overran its timeout on this shared machine: its
    # late thread may then name an instance that the redelivery named too (at-least-once, no harm done).
    stats = trigger.stats()
    if stats.batch_failures.get("timeout", 0) == 0:
        assert totals["InstancesNamed"] == 20
    else:
        assert 20 <= totals["InstancesNamed"] <= 20 + stats.records_in_failed_batches


def test_transient_errors_and_late_ips_still_end_with_every_instance_named(
    sandbox: Sandbox, world: World, trigger: SqsTrigger
) -> None:
    # GIVEN 5xx on some CreateTags calls and private IPs that appear late
    trigger.start()
    sandbox.controls.reseed(7)
    sandbox.controls.inject_error("ec2", "CreateTags", ErrorKind.HTTP503, probability=0.3)
    sandbox.controls.set_private_ip_delay(1.0)
    # WHEN the group scales out to eight
    sandbox.client("autoscaling").set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=8)
    # THEN every instance ends named and InService, and nothing is in the DLQ
    wait_for(lambda: in_service(sandbox, world) == 8, interval=0.2)
    assert all(facts["name"] == expected_name(facts["ip"]) for facts in group_instances(sandbox, world).values())
    assert dlq_bodies(sandbox, world) == []
