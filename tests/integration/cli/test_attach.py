"""asg-namer attach: puts the launch hook on an existing group and warns about instances already running."""

from __future__ import annotations

import json

from handler.naming import NOTIFICATION_METADATA_TEMPLATE_KEY
from sandbox import Sandbox
from scenarios import World
from tests.integration.cli.conftest import launch_unhooked, make_stack, without_hook


def _hook(sandbox: Sandbox, world: World, name: str) -> dict:
    hooks = sandbox.client("autoscaling").describe_lifecycle_hooks(
        AutoScalingGroupName=world.asg_name, LifecycleHookNames=[name]
    )["LifecycleHooks"]
    assert len(hooks) == 1
    return hooks[0]


def test_attach_puts_a_launch_hook_with_the_template_and_points_running_instances_to_backfill(sandbox, world, cli):
    # GIVEN a group without a hook that already runs two instances
    without_hook(sandbox, world)
    launch_unhooked(sandbox, world, 2)
    # WHEN the operator attaches asg-namer with a per-group template
    result = cli(
        "attach", "--asg", world.asg_name, "--queue-arn", world.queue_arn, "--role-arn", world.role_arn,
        "--heartbeat-timeout", "900", "--default-result", "CONTINUE", "--name-template", "{tag:App}-{ip4}",
    )  # fmt: skip
    # THEN the hook targets the queue with the template in its metadata under the handler's key
    assert result.code == 0, result.err
    hook = _hook(sandbox, world, "asg-namer-launch")
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert hook["NotificationTargetARN"] == world.queue_arn
    assert hook["RoleARN"] == world.role_arn
    assert hook["HeartbeatTimeout"] == 900
    assert hook["DefaultResult"] == "CONTINUE"
    assert json.loads(hook["NotificationMetadata"]) == {NOTIFICATION_METADATA_TEMPLATE_KEY: "{tag:App}-{ip4}"}
    # AND the operator is told that the two running instances need a backfill
    assert "2 instance(s) already in" in result.err
    assert f"asg-namer backfill --asg {world.asg_name}" in result.err
    # AND the next launch waits in Pending:Wait with a message that carries the template
    sandbox.client("autoscaling").set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=3)
    pending = sandbox.lifecycle.pending_actions(asg=world.asg_name)
    assert len(pending) == 1
    launches = [n for n in sandbox.lifecycle.notifications(asg=world.asg_name) if n.kind == "launch"]
    assert json.loads(launches[-1].body["NotificationMetadata"]) == {
        NOTIFICATION_METADATA_TEMPLATE_KEY: "{tag:App}-{ip4}"
    }


def test_attach_with_stack_reads_queue_role_and_heartbeat_from_the_outputs(sandbox, world, cli, unique):
    # GIVEN a deployed stack (its outputs) and a group without a hook
    without_hook(sandbox, world)
    stack = make_stack(sandbox, world, f"attach-{unique}")
    # WHEN attaching through the stack
    result = cli("attach", "--asg", world.asg_name, "--stack", stack, "--hook-name", "named-by-stack")
    # THEN the hook uses the stack's queue, role and heartbeat timeout, without metadata
    assert result.code == 0, result.err
    hook = _hook(sandbox, world, "named-by-stack")
    assert (hook["NotificationTargetARN"], hook["RoleARN"], hook["HeartbeatTimeout"]) == (
        world.queue_arn,
        world.role_arn,
        600,
    )
    assert not hook.get("NotificationMetadata")
    assert "0 instance(s) already in" in result.err


def test_attach_to_an_unknown_group_fails_with_one_line(world, cli):
    result = cli("attach", "--asg", "no-such-group", "--queue-arn", world.queue_arn, "--role-arn", world.role_arn)
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "'no-such-group' not found" in result.err and "--asg" in result.err


def test_attach_to_an_unknown_stack_fails_with_one_line(world, cli):
    result = cli("attach", "--asg", world.asg_name, "--stack", "no-such-stack")
    assert result.code == 1
    assert result.err.count("\n") == 1 and "stack 'no-such-stack' not found" in result.err


def test_attach_rejects_a_bad_template_before_touching_aws(sandbox, world, cli):
    before = len(sandbox.journal.records())
    result = cli(
        "attach", "--asg", world.asg_name, "--queue-arn", world.queue_arn, "--role-arn", world.role_arn,
        "--name-template", "{tag:App}-{nope}",
    )  # fmt: skip
    assert result.code == 2
    assert "unknown placeholder {nope}" in result.err and "at index 10" in result.err
    assert len(sandbox.journal.records()) == before


def test_attach_usage_errors_exit_2(world, cli):
    assert cli("attach", "--asg", world.asg_name, "--queue-arn", world.queue_arn).code == 2  # no --role-arn
    assert cli("attach", "--asg", world.asg_name).code == 2  # neither --stack nor --queue-arn
    assert cli("attach", "--asg", world.asg_name, "--stack", "s", "--heartbeat-timeout", "10").code == 2
