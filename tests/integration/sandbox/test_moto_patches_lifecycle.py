"""One test per lifecycle patch in sandbox/moto_patches.py, named after the patched moto member.

When a moto upgrade breaks a patch, the failing test names the member to look at.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.autoscaling.models import LifecycleHook

from sandbox import ACCOUNT_ID, DEFAULT_REGION, Sandbox

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/patch-test"


class Fixture:
    def __init__(self, sandbox: Sandbox, unique: str) -> None:
        self.unique = unique
        self.asg = sandbox.client("autoscaling")
        self.sqs = sandbox.client("sqs")
        ec2 = sandbox.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
        self.subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.43.1.0/24", AvailabilityZone=f"{DEFAULT_REGION}a")[
            "Subnet"
        ]["SubnetId"]
        self.template = f"lt-patch-{unique}"
        ec2.create_launch_template(
            LaunchTemplateName=self.template,
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )
        self.queue_url = self.sqs.create_queue(QueueName=f"patch-{unique}")["QueueUrl"]
        self.queue_arn = f"arn:aws:sqs:{DEFAULT_REGION}:{ACCOUNT_ID}:patch-{unique}"

    def group(self, desired: int = 0, name: str | None = None, **extra: Any) -> str:
        name = name or f"patch-{self.unique}-{uuid.uuid4().hex[:4]}"
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=desired,
            VPCZoneIdentifier=self.subnet,
            LaunchTemplate={"LaunchTemplateName": self.template},
            **extra,
        )
        return name

    def hook(self, group: str, name: str = "h", with_target: bool = True, **extra: Any) -> str:
        target = {"NotificationTargetARN": self.queue_arn, "RoleARN": ROLE_ARN} if with_target else {}
        self.asg.put_lifecycle_hook(
            AutoScalingGroupName=group, LifecycleHookName=name, LifecycleTransition=LAUNCHING, **target, **extra
        )
        return name

    def states(self, group: str) -> dict[str, str]:
        [described] = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        return {i["InstanceId"]: i["LifecycleState"] for i in described["Instances"]}

    def drain(self) -> list[dict[str, Any]]:
        bodies = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def fx(sandbox: Sandbox, unique: str) -> Fixture:
    return Fixture(sandbox, unique)


def test_lifecycle_hook_init_has_no_hardcoded_role_or_target(sandbox: Sandbox) -> None:
    # moto 5.2.5 hardcodes RoleARN, NotificationTargetARN and GlobalTimeout in LifecycleHook.__init__
    hook = LifecycleHook("h", "some-group", LAUNCHING, 60, None)
    assert (hook.role_arn, hook.notification_target_arn, hook.notification_metadata) == (None, None, None)
    assert (hook.heartbeat_timeout, hook.global_timeout, hook.default_result) == (60, 6000, "ABANDON")


def test_put_lifecycle_hook_keeps_target_role_and_metadata(fx: Fixture) -> None:
    # moto 5.2.5's put_lifecycle_hook drops RoleARN, NotificationTargetARN and NotificationMetadata
    group = fx.group()
    fx.hook(group, NotificationMetadata="m", HeartbeatTimeout=45)
    [hook] = fx.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
    assert (hook["RoleARN"], hook["NotificationTargetARN"], hook["NotificationMetadata"]) == (
        ROLE_ARN,
        fx.queue_arn,
        "m",
    )
    assert (hook["HeartbeatTimeout"], hook["GlobalTimeout"]) == (45, 4500)
    assert [b.get("Event") for b in fx.drain()] == ["autoscaling:TEST_NOTIFICATION"]


def test_create_auto_scaling_group_creates_specified_hooks_before_first_launch(fx: Fixture) -> None:
    # moto 5.2.5 ignores LifecycleHookSpecificationList
    spec = {"LifecycleHookName": "h", "LifecycleTransition": LAUNCHING, "NotificationTargetARN": fx.queue_arn}
    group = fx.group(desired=1, LifecycleHookSpecificationList=[{**spec, "RoleARN": ROLE_ARN}])
    assert [
        h["LifecycleHookName"] for h in fx.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
    ] == ["h"]
    assert list(fx.states(group).values()) == ["Pending:Wait"]
    assert [b.get("Event", b.get("LifecycleTransition")) for b in fx.drain()] == [
        "autoscaling:TEST_NOTIFICATION",
        LAUNCHING,
    ]


def test_complete_lifecycle_action_is_implemented(fx: Fixture) -> None:
    # moto 5.2.5 has no complete_lifecycle_action
    group = fx.group()
    fx.hook(group, with_target=False)
    fx.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    [instance] = fx.states(group)
    response = fx.asg.complete_lifecycle_action(
        AutoScalingGroupName=group, LifecycleHookName="h", LifecycleActionResult="CONTINUE", InstanceId=instance
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert fx.states(group) == {instance: "InService"}


def test_record_lifecycle_action_heartbeat_is_implemented(fx: Fixture, sandbox: Sandbox) -> None:
    # moto 5.2.5 has no record_lifecycle_action_heartbeat
    group = fx.group()
    fx.hook(group, with_target=False)
    fx.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    [instance] = fx.states(group)
    response = fx.asg.record_lifecycle_action_heartbeat(
        AutoScalingGroupName=group, LifecycleHookName="h", InstanceId=instance
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [a.heartbeats for a in sandbox.lifecycle.pending_actions(instance_id=instance)] == [1]


def test_active_instances_counts_pending_wait_instances(fx: Fixture) -> None:
    # moto 5.2.5 counts only InService, so repeating SetDesiredCapacity would launch the waiting ones again
    group = fx.group()
    fx.hook(group, with_target=False)
    fx.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=2)
    fx.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=2)
    assert len(fx.states(group)) == 2
    fx.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)
    assert list(fx.states(group).values()) == ["Pending:Wait"] * 3


def test_replace_autoscaling_group_instances_holds_launches_of_hooked_groups(fx: Fixture) -> None:
    # moto 5.2.5 launches every instance InService and sends nothing
    group = fx.group()
    fx.hook(group)
    fx.drain()
    fx.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    [(instance, state)] = fx.states(group).items()
    [message] = fx.drain()
    assert state == "Pending:Wait"
    assert message["EC2InstanceId"] == instance


def test_delete_lifecycle_hook_abandons_open_actions(fx: Fixture, sandbox: Sandbox) -> None:
    # AWS completes a deleted hook's outstanding launch actions with ABANDON; moto 5.2.5 forgets nothing
    group = fx.group()
    fx.hook(group, with_target=False)
    fx.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    [instance] = fx.states(group)
    fx.asg.delete_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName="h")
    states = fx.states(group)
    assert instance not in states
    assert list(states.values()) == ["InService"]  # the replacement has no hook to wait for
    assert sandbox.lifecycle.pending_actions(asg=group) == []
    assert [e.cause for e in sandbox.lifecycle.events(instance_id=instance)][-1] == "hook-deleted:ABANDON"


def test_delete_auto_scaling_group_deletes_its_hooks(fx: Fixture) -> None:
    # moto 5.2.5 keeps a deleted group's hooks, so a new group of the same name would inherit them
    name = f"patch-{fx.unique}-again"
    fx.group(name=name)
    fx.hook(name, with_target=False)
    fx.asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    fx.group(name=name, desired=1)
    assert fx.asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"] == []
    assert list(fx.states(name).values()) == ["InService"]


def test_complete_lifecycle_action_errors_reach_boto3_as_validation_error(fx: Fixture) -> None:
    # the new action raises moto's autoscaling ValidationError; it must serialise as a 400 query error
    group = fx.group()
    fx.hook(group, with_target=False)
    token = str(uuid.uuid4())
    with pytest.raises(ClientError) as caught:
        fx.asg.complete_lifecycle_action(
            AutoScalingGroupName=group,
            LifecycleHookName="h",
            LifecycleActionResult="CONTINUE",
            LifecycleActionToken=token,
        )
    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationError"
    assert error["Error"]["Message"] == f"No active Lifecycle Action found with token {token}"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
