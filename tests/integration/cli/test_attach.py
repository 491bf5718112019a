"""asg-namer attach: puts the launch hook on an existing group and warns about instances already running."""

from __future__ import annotations

import json

from cli.attach import minimum_heartbeat_seconds
from cli.cfn_template import load_template
from handler.naming import NOTIFICATION_METADATA_TEMPLATE_KEY
from sandbox import Sandbox
from scenarios import World
from tests.support.cli import launch_unhooked, make_stack, without_hook


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
    assert cli("attach", "--asg", world.asg_name, "--stack", "s", "--heartbeat-timeout", "7201").code == 2
    assert cli("attach", "--asg", world.asg_name, "--stack", "s", "--heartbeat-timeout", "ten").code == 2


def _hook_fields(hook: dict) -> tuple:
    return tuple(
        hook.get(key)
        for key in ("NotificationTargetARN", "RoleARN", "HeartbeatTimeout", "DefaultResult", "NotificationMetadata")
    )


def test_attach_refuses_to_replace_an_existing_hook_of_the_same_name_and_shows_it(sandbox, world, cli):
    # GIVEN the group's launch hook, put by someone else with their own queue, heartbeat and metadata
    sandbox.client("autoscaling").put_lifecycle_hook(
        AutoScalingGroupName=world.asg_name, LifecycleHookName=world.hook_name,
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING", NotificationTargetARN=world.queue_arn,
        RoleARN=world.role_arn, HeartbeatTimeout=1800, DefaultResult="CONTINUE", NotificationMetadata="owner=team-a",
    )  # fmt: skip
    before = _hook(sandbox, world, world.hook_name)
    puts = sandbox.journal.count("autoscaling", "PutLifecycleHook")
    # WHEN attaching under the same name without --replace
    result = cli(
        "attach", "--asg", world.asg_name, "--queue-arn", world.dlq_arn, "--role-arn", world.role_arn,
        "--hook-name", world.hook_name, "--heartbeat-timeout", "600",
    )  # fmt: skip
    # THEN it refuses with one line that shows the existing hook and says how to overwrite it (exit 1)
    assert result.code == 1
    assert result.err.count("\n") == 1
    for shown in (world.queue_arn, world.role_arn, "heartbeat 1800 s", "default result CONTINUE", "'owner=team-a'"):
        assert shown in result.err
    assert "--replace" in result.err
    # AND nothing changed
    assert sandbox.journal.count("autoscaling", "PutLifecycleHook") == puts
    assert _hook_fields(_hook(sandbox, world, world.hook_name)) == _hook_fields(before)


def test_attach_with_replace_overwrites_the_hook_and_says_what_it_replaced(sandbox, world, cli):
    # GIVEN the group's launch hook with a 1800 s heartbeat and CONTINUE
    sandbox.client("autoscaling").put_lifecycle_hook(
        AutoScalingGroupName=world.asg_name, LifecycleHookName=world.hook_name,
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING", NotificationTargetARN=world.queue_arn,
        RoleARN=world.role_arn, HeartbeatTimeout=1800, DefaultResult="CONTINUE",
    )  # fmt: skip
    # WHEN attaching under the same name with --replace
    result = cli(
        "attach", "--asg", world.asg_name, "--queue-arn", world.queue_arn, "--role-arn", world.role_arn,
        "--hook-name", world.hook_name, "--heartbeat-timeout", "600", "--replace",
    )  # fmt: skip
    # THEN the hook has the new values and the output shows the old ones
    assert result.code == 0, result.err
    hook = _hook(sandbox, world, world.hook_name)
    assert (hook["HeartbeatTimeout"], hook["DefaultResult"]) == (600, "ABANDON")
    assert f"Replaced launch hook {world.hook_name!r}" in result.out
    assert "heartbeat 1800 s, default result CONTINUE" in result.out


def test_attach_refuses_a_heartbeat_below_the_stacks_minimum_before_calling_aws(sandbox, world, cli):
    # GIVEN a group without a hook
    without_hook(sandbox, world)
    before = len(sandbox.journal.records())
    # WHEN attaching with a heartbeat AWS accepts (30 s) but the stack's timing does not
    result = cli(
        "attach", "--asg", world.asg_name, "--queue-arn", world.queue_arn, "--role-arn", world.role_arn,
        "--heartbeat-timeout", "30",
    )  # fmt: skip
    # THEN it is a one-line usage error that names the minimum and why, and AWS was not called
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "at least 480" in result.err
    assert "visibility 360 s + batching window 60 s + function timeout 60 s" in result.err
    assert len(sandbox.journal.records()) == before
    assert (
        sandbox.client("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName=world.asg_name)["LifecycleHooks"]
        == []
    )


def test_the_heartbeat_minimum_is_the_stacks_own_formula_and_bound():
    # GIVEN the stack's template WHEN attach computes its minimum THEN it equals HookHeartbeatTimeout's MinValue
    template = load_template()
    assert minimum_heartbeat_seconds(template).seconds == template["Parameters"]["HookHeartbeatTimeout"]["MinValue"]
