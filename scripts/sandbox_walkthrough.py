#!/usr/bin/env python3
"""A plain boto3 walk through the sandbox's lifecycle hooks, step by step, as an operator would try them.

Start the sandbox with a fast clock, then run this against it:

    python -m sandbox --port 5000 --clock-scale 60 &
    AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \\
        AWS_DEFAULT_REGION=us-east-1 python scripts/sandbox_walkthrough.py

Only boto3 is used, so the same script shows how real AWS behaves (it would take an hour there).
Exits 1 at the first step that does not behave as documented.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

import boto3
from botocore.exceptions import ClientError

LAUNCH_FIELDS = {
    "Origin",
    "Destination",
    "LifecycleHookName",
    "AccountId",
    "RequestId",
    "LifecycleTransition",
    "AutoScalingGroupName",
    "Service",
    "Time",
    "EC2InstanceId",
    "LifecycleActionToken",
}
TEST_FIELDS = {"AccountId", "RequestId", "AutoScalingGroupARN", "AutoScalingGroupName", "Service", "Event", "Time"}


class StepFailed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise StepFailed(what)
    print(f"  ok  {what}")


def wait_until(probe: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    return probe()


class Walkthrough:
    def __init__(self) -> None:
        self.ec2 = boto3.client("ec2")
        self.sqs = boto3.client("sqs")
        self.autoscaling = boto3.client("autoscaling")
        self.suffix = uuid.uuid4().hex[:6]

    def network(self) -> str:
        vpc = self.ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.12.0/22")["Subnet"]["SubnetId"]
        self.ec2.create_launch_template(
            LaunchTemplateName=f"walk-{self.suffix}",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )
        check(bool(subnet), "VPC, subnet and launch template created")
        return str(subnet)

    def queues(self, name: str) -> tuple[str, str]:
        dlq = self.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
        url = self.sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive})["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        check(True, f"queue {name} with a DLQ after 5 receives")
        return url, arn

    def group(self, name: str, subnet: str) -> None:
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": f"walk-{self.suffix}", "Version": "$Latest"},
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=0,
            VPCZoneIdentifier=subnet,
        )

    def hook(self, group: str, queue_arn: str, heartbeat: int, default_result: str = "ABANDON") -> None:
        self.autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=group,
            LifecycleHookName="name-me",
            LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
            NotificationTargetARN=queue_arn,
            RoleARN="arn:aws:iam::123456789012:role/asg-namer-hook",
            HeartbeatTimeout=heartbeat,
            DefaultResult=default_result,
        )

    def messages(self, url: str, count: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while len(found) < count and time.monotonic() < deadline:
            for message in self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            ):
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                found.append(json.loads(message["Body"]))
        return found

    def states(self, group: str) -> dict[str, str]:
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        return {i["InstanceId"]: i["LifecycleState"] for g in groups for i in g["Instances"]}

    def complete(self, group: str, token: str, result: str) -> None:
        self.autoscaling.complete_lifecycle_action(
            AutoScalingGroupName=group,
            LifecycleHookName="name-me",
            LifecycleActionToken=token,
            LifecycleActionResult=result,
        )

    def run(self) -> None:
        print("1. network, queue, group, hook")
        subnet = self.network()
        url, arn = self.queues(f"walk-{self.suffix}")
        group = f"walk-{self.suffix}"
        self.group(group, subnet)
        self.hook(group, arn, heartbeat=7200)
        hooks = self.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
        check(
            hooks[0]["NotificationTargetARN"] == arn and hooks[0]["HeartbeatTimeout"] == 7200, "hook keeps its target"
        )
        test = self.messages(url, 1)
        check(bool(test) and test[0].get("Event") == "autoscaling:TEST_NOTIFICATION", "test notification arrived")
        check(set(test[0]) >= TEST_FIELDS, "test notification has every documented field")

        print("2. scale out to 3")
        self.autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)
        launches = self.messages(url, 3)
        check(len(launches) == 3, "three launch messages")
        check(all(set(m) >= LAUNCH_FIELDS for m in launches), "each has every documented field")
        check(sorted(self.states(group).values()) == ["Pending:Wait"] * 3, "three instances in Pending:Wait")

        print("3. complete, complete again, abandon, heartbeat")
        first, second, third = launches
        self.complete(group, first["LifecycleActionToken"], "CONTINUE")
        check(self.states(group)[first["EC2InstanceId"]] == "InService", "CONTINUE -> InService")
        try:
            self.complete(group, first["LifecycleActionToken"], "CONTINUE")
            check(False, "completing twice is refused")
        except ClientError as error:
            message = error.response["Error"]["Message"]
            check(
                error.response["Error"]["Code"] == "ValidationError"
                and message == f"No active Lifecycle Action found with token {first['LifecycleActionToken']}",
                "completing twice: ValidationError 'No active Lifecycle Action found with token ...'",
            )
        self.complete(group, second["LifecycleActionToken"], "ABANDON")
        state = self.ec2.describe_instances(InstanceIds=[second["EC2InstanceId"]])["Reservations"][0]["Instances"][0]
        check(state["State"]["Name"] == "terminated", "ABANDON -> terminated")
        replacement = self.messages(url, 1)
        check(
            len(replacement) == 1 and replacement[0]["EC2InstanceId"] not in {m["EC2InstanceId"] for m in launches},
            "a replacement launched with its own message",
        )
        self.autoscaling.record_lifecycle_action_heartbeat(
            AutoScalingGroupName=group, LifecycleHookName="name-me", LifecycleActionToken=third["LifecycleActionToken"]
        )
        check(self.states(group)[third["EC2InstanceId"]] == "Pending:Wait", "heartbeat keeps the third waiting")

        print("4. a hook that times out (HeartbeatTimeout 30 s, DefaultResult CONTINUE)")
        quick_url, quick_arn = self.queues(f"walk-quick-{self.suffix}")
        quick = f"walk-quick-{self.suffix}"
        self.group(quick, subnet)
        self.hook(quick, quick_arn, heartbeat=30, default_result="CONTINUE")
        self.autoscaling.set_desired_capacity(AutoScalingGroupName=quick, DesiredCapacity=1)
        check(list(self.states(quick).values()) == ["Pending:Wait"], "instance waits for the hook")
        released = wait_until(lambda: list(self.states(quick).values()) == ["InService"], timeout=120)
        check(bool(released), "after the heartbeat timeout, DefaultResult CONTINUE put it InService")


def main() -> int:
    try:
        Walkthrough().run()
    except StepFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print("every step behaved as documented")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
