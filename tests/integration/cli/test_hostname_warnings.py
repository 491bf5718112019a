"""With HOSTNAME_SAFE on, attach and preview say when a group's instances cannot read their Name from metadata."""

from __future__ import annotations

import pytest

from sandbox import Sandbox
from scenarios import World
from tests.support.cli import make_stack

WARNING = "cannot read their Name tag from instance metadata"


def enable_metadata_tags(sandbox: Sandbox, world: World) -> None:
    """A new launch template version with instance metadata tags on, and the group launching from it."""
    ec2, autoscaling = sandbox.client("ec2"), sandbox.client("autoscaling")
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[world.asg_name])["AutoScalingGroups"][0]
    name = group["LaunchTemplate"]["LaunchTemplateName"]
    version = ec2.create_launch_template_version(
        LaunchTemplateName=name,
        SourceVersion="$Latest",
        LaunchTemplateData={"MetadataOptions": {"HttpTokens": "required", "InstanceMetadataTags": "enabled"}},
    )["LaunchTemplateVersion"]["VersionNumber"]
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=world.asg_name, LaunchTemplate={"LaunchTemplateName": name, "Version": str(version)}
    )


@pytest.mark.parametrize("command", ["preview", "attach"])
def test_hostname_safe_with_metadata_tags_off_is_warned(sandbox, world, cli, monkeypatch, command) -> None:
    # GIVEN HOSTNAME_SAFE on and a group whose launch template leaves instance metadata tags off
    monkeypatch.setenv("HOSTNAME_SAFE", "true")
    args = ["--asg", world.asg_name]
    if command == "attach":
        args += ["--stack", make_stack(sandbox, world, f"hn-{world.asg_name}"), "--replace"]
    # WHEN the command runs THEN it warns, naming the launch-template setting
    result = cli(command, *args)
    assert WARNING in result.err and "InstanceMetadataTags: enabled" in result.err


@pytest.mark.parametrize("command", ["preview", "attach"])
def test_no_warning_when_tags_are_readable_or_hostnames_are_not_wanted(sandbox, world, cli, monkeypatch, command):
    args = ["--asg", world.asg_name]
    if command == "attach":
        args += ["--stack", make_stack(sandbox, world, f"hn-{world.asg_name}"), "--replace"]
    # GIVEN HOSTNAME_SAFE off: no warning
    monkeypatch.delenv("HOSTNAME_SAFE", raising=False)
    assert WARNING not in cli(command, *args).err
    # AND HOSTNAME_SAFE on with metadata tags enabled: no warning either
    monkeypatch.setenv("HOSTNAME_SAFE", "true")
    enable_metadata_tags(sandbox, world)
    assert WARNING not in cli(command, *args).err
