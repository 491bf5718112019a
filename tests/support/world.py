"""A scenario world seen from a handler test: its launch messages, its instances, the names the team's
convention gives them, and a Lambda context to invoke the handler with."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.lambda_context import LambdaContext
from tests.support.events import sqs_event, sqs_record

if TYPE_CHECKING:
    from sandbox.server import Sandbox
    from scenarios import World


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
    """The name the default template gives an instance with the team's tags (scenarios.TEAM_TAGS)."""
    third, fourth = ip.split(".")[2:]
    return f"{prefix}-{third}-{fourth}"


def launch_before_the_hook(sandbox: Sandbox, world: World, count: int) -> list[str]:
    """Instances launched while the group had no hook (they never get a message), then the hook attached."""
    autoscaling = sandbox.client("autoscaling")
    autoscaling.delete_lifecycle_hook(AutoScalingGroupName=world.asg_name, LifecycleHookName=world.hook_name)
    autoscaling.set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=count)
    autoscaling.put_lifecycle_hook(
        AutoScalingGroupName=world.asg_name,
        LifecycleHookName=world.hook_name,
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
        NotificationTargetARN=world.queue_arn,
        RoleARN=world.role_arn,
        HeartbeatTimeout=600,
    )
    return sorted(group_instances(sandbox, world))


def writes_since(sandbox: Sandbox, start: int) -> list[str]:
    """The successful write calls the sandbox answered since journal position ``start``."""
    writing = {"CreateTags", "DeleteTags", "CompleteLifecycleAction", "TransactWriteItems", "PutItem", "DeleteItem"}
    return [r.action for r in sandbox.journal.records()[start:] if r.action in writing and r.status < 400]


def create_tags_by_instance(sandbox: Sandbox, start: int = 0) -> dict[str, int]:
    """Successful CreateTags calls per resource id since journal position ``start``."""
    counts: dict[str, int] = {}
    for record in sandbox.journal.records()[start:]:
        if record.action == "CreateTags" and record.status == 200:
            for resource in set(record.resources):
                counts[resource] = counts.get(resource, 0) + 1
    return counts
