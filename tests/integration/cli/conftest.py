"""Helpers for the operator commands: run ``asg-namer`` in-process and build groups and stacks to point it at."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cli.main import main
from sandbox import Sandbox
from scenarios import World


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Runs ``asg-namer ARGS...`` and returns its exit code and output; argparse usage errors exit 2."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse rejects bad usage this way
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


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
