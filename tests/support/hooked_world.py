"""Auto Scaling groups with launch hooks, built with plain boto3 for the sandbox's own tests (AWS only: no
scenario, no handler), and what those tests share: a faster sandbox clock for a block, an error's fields."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox import ACCOUNT_ID, DEFAULT_REGION, Sandbox
from tests.support.waiting import wait_for

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/lifecycle-hook-role"
PROPAGATED_TAGS = {
    "Project": "inventory",
    "Environment": "test",
    "Team": "platform",
    "CostCenter": "cc-1234",
    "Role": "web",
}


class HookedWorld:
    """Clients plus small factories for one test's resources (uniquely named: the sandbox is shared)."""

    def __init__(self, sandbox: Sandbox, unique: str) -> None:
        self.sandbox = sandbox
        self.unique = unique
        self.ec2 = sandbox.client("ec2")
        self.asg = sandbox.client("autoscaling")
        self.sqs = sandbox.client("sqs")
        self._subnet: str | None = None
        self._template: str | None = None

    def subnet(self) -> str:
        if self._subnet is None:
            vpc = self.ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
            self._subnet = self.ec2.create_subnet(
                VpcId=vpc, CidrBlock="10.42.1.0/24", AvailabilityZone=f"{DEFAULT_REGION}a"
            )["Subnet"]["SubnetId"]
        return self._subnet

    def launch_template(self) -> str:
        if self._template is None:
            self._template = f"lt-{self.unique}"
            self.ec2.create_launch_template(
                LaunchTemplateName=self._template,
                LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
            )
        return self._template

    def queue(self, suffix: str = "hooks") -> tuple[str, str]:
        """A standard queue with a DLQ (RedrivePolicy), as the project deploys it; returns (url, arn)."""
        dlq_url = self.sqs.create_queue(
            QueueName=f"{suffix}-dlq-{self.unique}", Attributes={"MessageRetentionPeriod": "1209600"}
        )["QueueUrl"]
        dlq_arn = self.queue_arn(dlq_url)
        url = self.sqs.create_queue(
            QueueName=f"{suffix}-{self.unique}",
            Attributes={
                "VisibilityTimeout": "60",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
            },
        )["QueueUrl"]
        return url, self.queue_arn(url)

    def queue_arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def group(self, desired: int = 0, hooks: list[dict[str, Any]] | None = None, name: str | None = None) -> str:
        name = name or f"asg-{self.unique}-{uuid.uuid4().hex[:4]}"
        extra: dict[str, Any] = {"LifecycleHookSpecificationList": hooks} if hooks else {}
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=desired,
            VPCZoneIdentifier=self.subnet(),
            LaunchTemplate={"LaunchTemplateName": self.launch_template()},
            Tags=[
                {"Key": key, "Value": value, "PropagateAtLaunch": True, "ResourceId": name}
                for key, value in PROPAGATED_TAGS.items()
            ],
            **extra,
        )
        return name

    def launch_hook(self, group: str, queue_arn: str | None, name: str = "name-instance", **settings: Any) -> str:
        target = {"NotificationTargetARN": queue_arn, "RoleARN": ROLE_ARN} if queue_arn else {}
        self.asg.put_lifecycle_hook(
            AutoScalingGroupName=group,
            LifecycleHookName=name,
            LifecycleTransition=LAUNCHING,
            **target,
            **settings,
        )
        return name

    def waiting_instance(
        self, queue: tuple[str, str] | None = None, **hook_settings: Any
    ) -> tuple[str, str, dict[str, Any]]:
        """A new group with a launch hook (``hook_settings``) to ``queue`` (url, arn; a new one when None) and one
        instance waiting in Pending:Wait: the group, the hook and the instance's launch notification (the hook's
        test notification already consumed)."""
        url, arn = queue or self.queue()
        group = self.group()
        hook = self.launch_hook(group, arn, **hook_settings)
        self.messages(url, 1)
        self.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
        [body] = self.messages(url, 1)
        return group, hook, body

    def messages(self, url: str, count: int) -> list[dict[str, Any]]:
        """Receives (and deletes) exactly `count` message bodies, waiting for them to arrive."""
        bodies: list[dict[str, Any]] = []

        def probe() -> bool:
            for message in self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return len(bodies) >= count

        wait_for(probe)
        assert len(bodies) == count, bodies
        return bodies

    def states(self, group: str) -> dict[str, str]:
        described = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        return {i["InstanceId"]: i["LifecycleState"] for i in described[0]["Instances"]}

    def instance_states(self, ids: list[str]) -> dict[str, str]:
        described = self.asg.describe_auto_scaling_instances(InstanceIds=ids)["AutoScalingInstances"]
        return {i["InstanceId"]: i["LifecycleState"] for i in described}

    def ec2_state(self, instance_id: str) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return str(reservations[0]["Instances"][0]["State"]["Name"])

    def complete(self, group: str, hook: str, result: str = "CONTINUE", **identifier: str) -> None:
        self.asg.complete_lifecycle_action(
            AutoScalingGroupName=group, LifecycleHookName=hook, LifecycleActionResult=result, **identifier
        )


@contextmanager
def fast_clock(sandbox: Sandbox, scale: float) -> Iterator[None]:
    """Runs sandbox time faster for the block only (other tests' open actions keep their real pace)."""
    saved = sandbox.clock.scale
    sandbox.clock.set_scale(scale)
    try:
        yield
    finally:
        sandbox.clock.set_scale(saved)


def error_of(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]
