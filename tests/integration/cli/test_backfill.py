"""asg-namer backfill: names running instances, throttle-aware, never touching lifecycle actions."""

from __future__ import annotations

import io
import sys

from sandbox.faults import EC2_CREATE_TAGS, BucketSpec
from tests.support.cli import launch_unhooked, make_function_stack, names, without_hook
from tests.support.world import expected_name, group_instances


def test_dry_run_lists_the_changes_and_writes_nothing(sandbox, world, cli):
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 2)
    result = cli("backfill", "--asg", world.asg_name, "--dry-run")
    assert result.code == 0, result.err
    assert "2 instance(s): 2 to (re)name, 0 already named, 0 drifted (left), 0 cannot be named now" in result.out
    assert "dry run: nothing written." in result.out
    for instance_id in ids:  # the plan: each instance, its current name and the new one
        assert f"{instance_id}" in result.out and "(none)" in result.out
    assert names(sandbox, ids) == dict.fromkeys(ids)


def test_backfill_names_every_instance_keeps_hand_set_names_and_a_second_run_writes_nothing(sandbox, world, cli):
    # GIVEN three unnamed instances and one someone named by hand
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 4)
    sandbox.client("ec2").create_tags(Resources=[ids[0]], Tags=[{"Key": "Name", "Value": "hand-set"}])
    ips = {i: facts["ip"] for i, facts in group_instances(sandbox, world).items()}
    # WHEN backfilling without asking
    result = cli("backfill", "--asg", world.asg_name, "--yes")
    # THEN the unnamed ones have the template's name, the hand-set name is left (and said so)
    assert result.code == 0, result.err
    assert names(sandbox, ids) == {ids[0]: "hand-set", **{i: expected_name(ips[i]) for i in ids[1:]}}
    assert f"{ids[1]}: (none) -> {expected_name(ips[ids[1]])}" in result.out
    assert "drift: the template says" in next(line for line in result.out.splitlines() if line.startswith(ids[0]))
    assert "Named 3 instance(s), 0 released, 0 cannot be named, 0 failed." in result.out
    assert "4/4" in result.err  # the progress bar reached the end
    # AND a second run finds nothing to write
    before = sandbox.journal.count("ec2", "CreateTags")
    again = cli("backfill", "--asg", world.asg_name, "--yes")
    assert again.code == 0 and "Nothing to write: every nameable instance already has its name." in again.out
    assert sandbox.journal.count("ec2", "CreateTags") == before


def test_overwrite_replaces_a_different_existing_name(sandbox, world, cli):
    # GIVEN an instance named by hand
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 1)
    sandbox.client("ec2").create_tags(Resources=[ids[0]], Tags=[{"Key": "Name", "Value": "old-name"}])
    (facts,) = group_instances(sandbox, world).values()
    # WHEN backfilling with --overwrite
    result = cli("backfill", "--asg", world.asg_name, "--yes", "--overwrite")
    # THEN the plan said it and the name is replaced
    assert result.code == 0, result.err
    assert f"{ids[0]}: old-name -> {expected_name(facts['ip'])}" in result.out
    assert names(sandbox, ids) == {ids[0]: expected_name(facts["ip"])}


def test_backfill_survives_throttling_and_names_everything(sandbox, world, cli):
    # GIVEN 12 instances and a CreateTags bucket of 2 with 3 tokens per second
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 12)
    sandbox.controls.set_throttling(buckets={EC2_CREATE_TAGS: BucketSpec(burst=2, refill_per_second=3)})
    # WHEN backfilling
    result = cli("backfill", "--asg", world.asg_name, "--yes")
    # THEN CreateTags was throttled, and still every instance got its name
    assert sandbox.controls.stats()["throttled"]["by_bucket"].get(EC2_CREATE_TAGS, 0) > 0
    assert result.code == 0, result.out + result.err
    assert all(names(sandbox, ids).values())
    assert "Named 12 instance(s)" in result.out


def test_backfill_never_touches_lifecycle_actions(sandbox, world, cli):
    # GIVEN three instances held in Pending:Wait by the launch hook
    sandbox.client("autoscaling").set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=3)
    assert len(sandbox.lifecycle.pending_actions(asg=world.asg_name)) == 3
    before = len(sandbox.journal.records())
    # WHEN backfilling them
    result = cli("backfill", "--asg", world.asg_name, "--yes")
    # THEN they are named but still waiting: no lifecycle call was made
    assert result.code == 0, result.err
    instances = group_instances(sandbox, world)
    assert all(i["name"] == expected_name(i["ip"]) and i["state"] == "Pending:Wait" for i in instances.values())
    assert len(sandbox.lifecycle.pending_actions(asg=world.asg_name)) == 3
    lifecycle_calls = {"CompleteLifecycleAction", "RecordLifecycleActionHeartbeat", "PutLifecycleHook"}
    assert not [r for r in sandbox.journal.records()[before:] if r.action in lifecycle_calls]


def test_backfill_without_a_terminal_refuses_unless_yes(sandbox, world, cli, monkeypatch):
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 1)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    result = cli("backfill", "--asg", world.asg_name)
    assert result.code == 2
    assert "pass --yes" in result.err and result.err.count("\n") == 1
    assert ids[0] in result.out  # the plan was shown before asking
    assert names(sandbox, ids) == {ids[0]: None}


def test_backfill_reports_instances_it_cannot_name_and_exits_1(sandbox, world, cli):
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 2)
    sandbox.client("ec2").delete_tags(Resources=[ids[1]], Tags=[{"Key": "App"}])
    result = cli("backfill", "--asg", world.asg_name, "--yes")
    assert result.code == 1
    assert "cannot name: instance lacks tag(s) the template needs: 'App'" in result.out
    assert names(sandbox, ids)[ids[0]] and names(sandbox, ids)[ids[1]] is None


def test_backfill_of_an_unknown_group_fails_with_one_line(cli):
    result = cli("backfill", "--asg", "no-such-group", "--yes")
    assert result.code == 1 and result.err.count("\n") == 1 and "not found" in result.err


def test_backfill_with_stack_uses_the_functions_template_and_tag_key(sandbox, world, cli):
    # GIVEN a stack whose function names instances '{tag:App}-{ip4}' into the tag 'Hostname'
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 2)
    env = {"NAME_TEMPLATE": "{tag:App}-{ip4}", "NAME_TAG_KEY": "Hostname"}
    stack = make_function_stack(sandbox, world, f"bf-{world.asg_name}", env)
    # WHEN backfilling with --stack (and nothing set in this shell)
    result = cli("backfill", "--asg", world.asg_name, "--stack", stack, "--yes")
    # THEN the function's settings were used, not the defaults
    assert result.code == 0, result.err
    assert "Tag key 'Hostname'" in result.out
    ips = {i: facts["ip"] for i, facts in group_instances(sandbox, world).items()}
    assert names(sandbox, ids, key="Hostname") == {i: f"store-{ips[i].split('.')[3]}" for i in ids}
    assert names(sandbox, ids) == dict.fromkeys(ids)  # the Name tag was not touched
