"""Fixtures for the handler over HTTP: a scenario world, a freshly initialised handler, real messages."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.lambda_runtime import FunctionLogs, capture_function_output, environment_factory
from sandbox.scenario import World, build_world
from sandbox.trigger import LambdaContext
from tests.unit.factories import sqs_event, sqs_record

Handler = Callable[[dict[str, Any], Any], Any]


@pytest.fixture(autouse=True)
def no_faults(sandbox: Sandbox) -> Iterator[None]:
    """Every test starts and ends with the sandbox's realism and faults off."""
    sandbox.controls.reset()
    yield
    sandbox.controls.reset()


@pytest.fixture(autouse=True)
def no_live_instances_left(sandbox: Sandbox) -> Iterator[None]:
    """The session shares one account, and names must be unique among live instances: every test's groups
    are scaled in and its instances terminated afterwards, so the next test starts from an empty fleet."""
    yield
    autoscaling, ec2 = sandbox.client("autoscaling"), sandbox.client("ec2")
    for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
        for group in page["AutoScalingGroups"]:
            if group["DesiredCapacity"] or group["Instances"]:
                autoscaling.update_auto_scaling_group(
                    AutoScalingGroupName=group["AutoScalingGroupName"], MinSize=0, DesiredCapacity=0
                )
    live = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    )
    ids = [i["InstanceId"] for r in live["Reservations"] for i in r["Instances"]]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)


@pytest.fixture
def world(sandbox: Sandbox, unique: str) -> World:
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
            handler = environment_factory()()

        def invoke(event: dict[str, Any], lambda_context: Any) -> Any:
            # pytest swaps sys.stdout between test phases, so capture around each invocation
            with capture_function_output(logs):
                return handler(event, lambda_context)

        return invoke

    return start


@dataclass
class Received:
    """Messages taken off the queue the way the trigger takes them: body, id and receipt handle."""

    messages: list[dict[str, Any]]
    queue_arn: str

    def event(self) -> dict[str, Any]:
        return sqs_event(*(self.record(m) for m in self.messages))

    def record(self, message: dict[str, Any]) -> dict[str, Any]:
        record = sqs_record(message["Body"], message_id=message["MessageId"], queue_arn=self.queue_arn)
        record["receiptHandle"] = message["ReceiptHandle"]
        return record

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in self.messages]


def receive(sandbox: Sandbox, world: World, expected: int, timeout: float = 20.0) -> Received:
    """Takes ``expected`` launch messages off the queue, dropping the hook's test notification."""
    sqs = sandbox.client("sqs")
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            if "TEST_NOTIFICATION" in message["Body"]:
                sqs.delete_message(QueueUrl=world.queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                messages.append(message)
    assert len(messages) == expected, f"expected {expected} launch messages, got {len(messages)}"
    return Received(messages, world.queue_arn)


def scale_out(sandbox: Sandbox, world: World, count: int) -> Received:
    sandbox.client("autoscaling").set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=count)
    return receive(sandbox, world, count)


def context(seconds: float = 30.0) -> LambdaContext:
    return LambdaContext(timeout_seconds=seconds)


def group_instances(sandbox: Sandbox, world: World) -> dict[str, dict[str, Any]]:
    """Instance id -> {"state": lifecycle state, "name": Name tag or None, "ip": private IP}."""
    groups = sandbox.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[world.asg_name])
    states = {i["InstanceId"]: i["LifecycleState"] for g in groups["AutoScalingGroups"] for i in g["Instances"]}
    if not states:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for reservation in sandbox.client("ec2").describe_instances(InstanceIds=sorted(states))["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            found[instance["InstanceId"]] = {
                "state": states[instance["InstanceId"]],
                "name": tags.get("Name"),
                "ip": instance.get("PrivateIpAddress"),
            }
    return found


def expected_name(ip: str, prefix: str = "vg-store-web-release-a") -> str:
    third, fourth = ip.split(".")[2:]
    return f"{prefix}-{third}-{fourth}"
