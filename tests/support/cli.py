"""What the operator commands' tests share: groups without a hook, stacks with asg-namer's outputs, names as
EC2 holds them, and botocore event handlers on the clients a command creates (a slow network, a
concurrent operator acting between two of the command's calls, a record of what it sent)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from cli.common import Aws
from sandbox import Sandbox
from scenarios import World


def without_hook(sandbox: Sandbox, world: World) -> None:
    """The group as it was before asg-namer: no launch hook, so launches go straight to InService."""
    sandbox.client("autoscaling").delete_lifecycle_hook(
        AutoScalingGroupName=world.asg_name, LifecycleHookName=world.hook_name
    )


def launch_unhooked(sandbox: Sandbox, world: World, count: int) -> list[str]:
    """Scales a hook-less group out to ``count`` InService instances and returns their ids."""
    autoscaling = sandbox.client("autoscaling")
    autoscaling.set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=count)
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[world.asg_name])["AutoScalingGroups"][0]
    ids = [i["InstanceId"] for i in group["Instances"]]
    assert len(ids) == count and all(i["LifecycleState"] == "InService" for i in group["Instances"])
    return sorted(ids)


def names(sandbox: Sandbox, instance_ids: list[str], key: str = "Name") -> dict[str, str | None]:
    reservations = sandbox.client("ec2").describe_instances(InstanceIds=instance_ids)["Reservations"]
    found: dict[str, str | None] = {}
    for reservation in reservations:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            found[instance["InstanceId"]] = tags.get(key)
    return found


def make_stack(sandbox: Sandbox, world: World, name: str, outputs: dict[str, str] | None = None) -> str:
    """A stack with the outputs infra/cloudformation.yaml exports, pointing at ``world``'s resources."""
    values = outputs or {
        "QueueArn": world.queue_arn,
        "QueueUrl": world.queue_url,
        "HookRoleArn": world.role_arn,
        "DeadLetterQueueUrl": world.dlq_url,
        "HookHeartbeatTimeout": "600",
    }
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-marker"}}},
        "Outputs": {key: {"Value": value} for key, value in values.items()},
    }
    sandbox.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    return name


def make_function_stack(sandbox: Sandbox, world: World, name: str, environment: dict[str, str]) -> str:
    """A stack whose FunctionName output names a function with this environment (what `--stack` reads)."""
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("handler/app.py", "def lambda_handler(event, context):\n    return None\n")
    function = sandbox.client("lambda").create_function(
        FunctionName=f"{name}-fn",
        Runtime="python3.13",
        Role=world.role_arn,
        Handler="handler.app.lambda_handler",
        Code={"ZipFile": zipped.getvalue()},
        Environment={"Variables": environment},
    )["FunctionName"]
    outputs = {"QueueArn": world.queue_arn, "QueueUrl": world.queue_url, "FunctionName": function}
    return make_stack(sandbox, world, name, outputs)


def hook_clients(monkeypatch: pytest.MonkeyPatch, handlers: dict[str, Callable[..., None]]) -> None:
    """Registers ``handlers`` (botocore event name -> handler) on every client ``Aws.client`` makes."""
    original = Aws.client
    hooked: set[int] = set()

    def client(self: Aws, service: str) -> Any:
        made = original(self, service)
        if id(made) not in hooked:
            hooked.add(id(made))
            for event, handler in handlers.items():
                made.meta.events.register(event, handler)
        return made

    monkeypatch.setattr(Aws, "client", client)
