"""asg-namer backfill: names running instances, throttle-aware, never touching lifecycle actions."""

from __future__ import annotations

import io
import sys

from sandbox.faults import EC2_CREATE_TAGS, BucketSpec
from tests.integration.cli.conftest import launch_unhooked, names, without_hook
from tests.support.world import expected_name, group_instances


def test_dry_run_lists_the_changes_and_writes_nothing(sandbox, world, cli):
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 2)
    result = cli("backfill", "--asg", world.asg_name, "--dry-run")
    assert result.code == 0, result.err
    assert "dry run: 2 instance(s) would be (re)named, 0 cannot be named; nothing written." in result.out
    assert names(sandbox, ids) == dict.fromkeys(ids)


def test_backfill_names_every_instance_renames_wrong_ones_and_a_second_run_writes_nothing(sandbox, world, cli):
    # GIVEN three unnamed instances and one with a stale name
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 4)
    sandbox.client("ec2").create_tags(Resources=[ids[0]], Tags=[{"Key": "Name", "Value": "old-name"}])
    ips = {i: facts["ip"] for i, facts in group_instances(sandbox, world).items()}
    # WHEN backfilling without asking
    result = cli("backfill", "--asg", world.asg_name, "--yes")
    # THEN every instance has the template's name and the output says what changed
    assert result.code == 0, result.err
    assert names(sandbox, ids) == {i: expected_name(ips[i]) for i in ids}
    assert f"{ids[0]}: old-name -> {expected_name(ips[ids[0]])}" in result.out
    assert f"{ids[1]}: (none) -> {expected_name(ips[ids[1]])}" in result.out
    assert "Named 4 instance(s), 0 already named, 0 cannot be named, 0 failed." in result.out
    assert "4/4" in result.err  # the progress bar reached the end
    # AND a second run finds nothing to write
    before = sandbox.journal.count("ec2", "CreateTags")
    again = cli("backfill", "--asg", world.asg_name, "--yes")
    assert again.code == 0 and "already has its name (4)" in again.out
    assert sandbox.journal.count("ec2", "CreateTags") == before


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
    assert names(sandbox, ids) == {ids[0]: None}


def test_backfill_reports_instances_it_cannot_name_and_exits_1(sandbox, world, cli):
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 2)
    sandbox.client("ec2").delete_tags(Resources=[ids[1]], Tags=[{"Key": "App"}])
    result = cli("backfill", "--asg", world.asg_name, "--yes")
    assert result.code == 1
    assert f"cannot name {ids[1]}: instance lacks tag(s) the template needs: 'App'" in result.out
    assert names(sandbox, ids)[ids[0]] and names(sandbox, ids)[ids[1]] is None


def test_backfill_of_an_unknown_group_fails_with_one_line(cli):
    result = cli("backfill", "--asg", "no-such-group", "--yes")
    assert result.code == 1 and result.err.count("\n") == 1 and "not found" in result.err
