"""The sweep over HTTP: the function invoked with AWS's Scheduled Event names what the events missed.

These tests invoke a fresh execution environment directly with the scheduled event (as EventBridge does);
tests/e2e/test_sweep_schedule.py runs the same through the sandbox's schedule and queue trigger.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sandbox.throttling import AUTOSCALING, BucketSpec
from scenarios import TEAM_TAGS, build_world, create_slot_table
from tests.support.events import scheduled_event
from tests.support.world import (
    context,
    expected_name,
    group_instances,
    launch_before_the_hook,
    scale_out,
    writes_since,
)

LONG = 600.0
Handler = Callable[[dict[str, Any], Any], Any]


def sweep(handler: Handler) -> dict[str, Any]:
    summary = handler(scheduled_event(), context(LONG))
    assert isinstance(summary, dict)
    return summary


def test_a_hook_attached_after_launch_leaves_instances_the_sweep_names_then_a_second_sweep_writes_nothing(
    sandbox, world, cold_start, logs
) -> None:
    # GIVEN five instances launched before the group's hook existed (no message ever came)
    ids = launch_before_the_hook(sandbox, world, 5)
    handler = cold_start(QUEUE_ARN=world.queue_arn)
    # WHEN the schedule invokes the function
    summary = sweep(handler)
    # THEN all five are named by the convention, and the summary says so
    instances = group_instances(sandbox, world)
    assert all(instances[i]["name"] == expected_name(instances[i]["ip"]) for i in ids)
    assert {k: summary[k] for k in ("groups", "instances", "named", "released", "drift")} == {
        "groups": 1,
        "instances": 5,
        "named": 5,
        "released": 0,
        "drift": 0,
    }
    assert logs.metric_totals()["SweepInstancesNamed"] == 5
    # AND the next sweep makes no write call
    start = len(sandbox.journal.records())
    assert sweep(handler)["named"] == 0
    assert writes_since(sandbox, start) == []


def test_a_group_served_by_no_hook_of_this_queue_is_never_touched(sandbox, world, unique, cold_start) -> None:
    # GIVEN a served group and another group with unnamed instances whose hook notifies another queue
    other = build_world(f"other-{unique}", endpoint_url=sandbox.endpoint_url)
    theirs = launch_before_the_hook(sandbox, other, 2)
    ours = launch_before_the_hook(sandbox, world, 1)
    # WHEN this deployment sweeps
    sweep(cold_start(QUEUE_ARN=world.queue_arn))
    # THEN only its own group's instance is named
    assert group_instances(sandbox, world)[ours[0]]["name"]
    assert all(group_instances(sandbox, other)[i]["name"] is None for i in theirs)


def test_a_different_name_is_drift_left_unless_asked_to_fix_it(sandbox, world, cold_start, logs) -> None:
    # GIVEN a served instance someone renamed by hand
    (instance_id,) = launch_before_the_hook(sandbox, world, 1)
    sandbox.client("ec2").create_tags(Resources=[instance_id], Tags=[{"Key": "Name", "Value": "hand-set"}])
    # WHEN swept THEN the name stays, counted and listed as drift
    summary = sweep(cold_start(QUEUE_ARN=world.queue_arn))
    assert group_instances(sandbox, world)[instance_id]["name"] == "hand-set"
    assert summary["drift"] == 1 and summary["drifted"][0]["instance"] == instance_id
    assert logs.metric_totals()["NameDrift"] == 1
    # AND with SWEEP_FIX_DRIFT it is renamed
    sweep(cold_start(QUEUE_ARN=world.queue_arn, SWEEP_FIX_DRIFT="true"))
    facts = group_instances(sandbox, world)[instance_id]
    assert facts["name"] == expected_name(facts["ip"])


def test_an_instance_stuck_in_pending_wait_is_named_and_released(sandbox, world, cold_start, logs) -> None:
    # GIVEN launches whose messages were purged from the queue: they wait in Pending:Wait
    scale_out(sandbox, world, 2)
    sandbox.client("sqs").purge_queue(QueueUrl=world.queue_url)
    # WHEN a sweep runs after SWEEP_STUCK_AFTER_SECONDS
    summary = sweep(cold_start(QUEUE_ARN=world.queue_arn, SWEEP_STUCK_AFTER_SECONDS="0"))
    # THEN both are named and InService
    assert summary["released"] == 2
    instances = group_instances(sandbox, world).values()
    assert all(i["state"] == "InService" and i["name"] == expected_name(i["ip"]) for i in instances)
    assert logs.metric_totals()["SweepActionsReleased"] == 2


def test_a_young_waiting_instance_is_named_but_left_to_the_queue_path(sandbox, world, cold_start) -> None:
    # GIVEN a launch just now (its message still on the queue)
    scale_out(sandbox, world, 1)
    # WHEN swept with the default 300 s
    summary = sweep(cold_start(QUEUE_ARN=world.queue_arn))
    # THEN it is named, not released: the queue path completes its action
    (facts,) = group_instances(sandbox, world).values()
    assert facts["name"] == expected_name(facts["ip"]) and facts["state"] == "Pending:Wait"
    assert summary["released"] == 0


def test_a_stuck_instance_that_cannot_be_named_gets_the_failure_policys_result(sandbox, unique, cold_start) -> None:
    # GIVEN a stuck instance of a group missing a tag, FAILURE_RESULT=CONTINUE
    tags = {k: v for k, v in TEAM_TAGS.items() if k != "Env"}
    world = build_world(f"stuck-{unique}", endpoint_url=sandbox.endpoint_url, tags=tags)
    scale_out(sandbox, world, 1)
    sandbox.client("sqs").purge_queue(QueueUrl=world.queue_url)
    # WHEN swept
    handler = cold_start(QUEUE_ARN=world.queue_arn, SWEEP_STUCK_AFTER_SECONDS="0", FAILURE_RESULT="CONTINUE")
    summary = sweep(handler)
    # THEN it is released with CONTINUE, unnamed, carrying the reason
    ((instance_id, facts),) = group_instances(sandbox, world).items()
    assert (facts["state"], facts["name"]) == ("InService", None) and summary["failed"] == 1
    ec2 = sandbox.client("ec2")
    tags_now = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["Tags"]
    assert "Env" in {t["Key"]: t["Value"] for t in tags_now}["asg-namer:naming-failed"]


def test_a_launch_successful_group_listed_in_sweep_groups_is_served(sandbox, unique, cold_start) -> None:
    # GIVEN a group without any hook whose Launch Successful event was dropped
    world = build_world(f"ls-{unique}", endpoint_url=sandbox.endpoint_url)
    autoscaling = sandbox.client("autoscaling")
    autoscaling.delete_lifecycle_hook(AutoScalingGroupName=world.asg_name, LifecycleHookName=world.hook_name)
    autoscaling.set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=1)
    # WHEN swept with the group in SWEEP_GROUPS (the stack passes LaunchSuccessfulGroupNames)
    sweep(cold_start(SWEEP_GROUPS=world.asg_name))
    # THEN it is named
    (facts,) = group_instances(sandbox, world).values()
    assert facts["name"] == expected_name(facts["ip"])


def test_two_live_instances_with_one_name_the_younger_is_suffixed(sandbox, unique, cold_start) -> None:
    # GIVEN two served groups in two VPCs whose instances get the same last two IP octets
    first = build_world(f"first-{unique}", endpoint_url=sandbox.endpoint_url, cidr_third_octet=200)
    second = build_world(f"twin-{unique}", endpoint_url=sandbox.endpoint_url, cidr_second_octet=1, cidr_third_octet=200)
    world = first
    older = launch_before_the_hook(sandbox, world, 1)[0]
    younger = launch_before_the_hook(sandbox, second, 1)[0]
    ips = {**group_instances(sandbox, world), **group_instances(sandbox, second)}
    assert ips[older]["ip"].split(".")[2:] == ips[younger]["ip"].split(".")[2:]
    same = expected_name(ips[older]["ip"])
    ec2 = sandbox.client("ec2")
    ec2.create_tags(Resources=[older, younger], Tags=[{"Key": "Name", "Value": same}])  # slipped through
    # WHEN the sweep serves both groups
    sweep(cold_start(SWEEP_GROUPS=f"{world.asg_name},{second.asg_name}"))
    # THEN one keeps the name and the other gets the suffix of its own id: the younger, when EC2's launch
    # times (whole seconds) tell them apart
    after = {
        older: group_instances(sandbox, world)[older]["name"],
        younger: group_instances(sandbox, second)[younger]["name"],
    }
    kept = [i for i, name in after.items() if name == same]
    suffixed = [i for i, name in after.items() if name == f"{same}-{i[-4:]}"]
    assert len(kept) == 1 and len(suffixed) == 1
    launched = {
        i["InstanceId"]: i["LaunchTime"]
        for r in ec2.describe_instances(InstanceIds=[older, younger])["Reservations"]
        for i in r["Instances"]
    }
    if launched[older] != launched[younger]:
        assert suffixed == [younger]


def test_a_slot_template_names_with_the_lowest_free_numbers(sandbox, world, unique, cold_start) -> None:
    # GIVEN a group whose hook template numbers its instances, launched before the hook
    table = create_slot_table(f"slots-{unique}", sandbox.endpoint_url)
    metadata = json.dumps({"asg-namer:name-template": "{tag:App}-{tag:Env}-{slot:2}"})
    numbered = build_world(f"num-{unique}", endpoint_url=sandbox.endpoint_url, notification_metadata=metadata)
    launch_before_the_hook(sandbox, numbered, 3)
    sandbox.client("autoscaling").put_lifecycle_hook(
        AutoScalingGroupName=numbered.asg_name, LifecycleHookName=numbered.hook_name, NotificationMetadata=metadata
    )
    # WHEN swept THEN they are store-release-01..03
    sweep(cold_start(QUEUE_ARN=numbered.queue_arn, SLOT_TABLE=table))
    names = sorted(i["name"] for i in group_instances(sandbox, numbered).values())
    assert names == ["store-release-01", "store-release-02", "store-release-03"]


def test_a_sweep_with_nothing_configured_serves_nothing(sandbox, world, cold_start) -> None:
    launch_before_the_hook(sandbox, world, 1)
    summary = sweep(cold_start())
    assert summary["groups"] == 0 and summary["named"] == 0


def test_a_sweep_that_auto_scaling_throttles_returns_a_summary_instead_of_raising(
    sandbox, world, controls, cold_start
) -> None:
    # GIVEN a served unnamed instance, and an Auto Scaling that answers every call with Throttling
    launch_before_the_hook(sandbox, world, 1)
    handler = cold_start(QUEUE_ARN=world.queue_arn, AWS_MAX_ATTEMPTS="1")
    controls.set_throttling(buckets={AUTOSCALING: BucketSpec(0, 0)})
    # WHEN the schedule invokes the function
    summary = sweep(handler)
    # THEN it returns, saying it stopped early on an error (raising would make Lambda invoke it twice more,
    # each a read of the whole Region while AWS throttles): the next scheduled sweep is its retry
    assert summary["errors"] == 1 and summary["stopped_early"] is True and summary["named"] == 0


def test_a_sweep_past_its_deadline_reads_no_groups_hooks(sandbox, world, cold_start) -> None:
    # GIVEN a served group, and an invocation with less time left than the function's margin (25 s)
    launch_before_the_hook(sandbox, world, 1)
    handler = cold_start(QUEUE_ARN=world.queue_arn)
    start = len(sandbox.journal.records())
    # WHEN the schedule invokes the function
    summary = handler(scheduled_event(), context(0.5))
    # THEN no group's hooks are read (a cold cache reads one group at a time) and the summary says it stopped
    assert "DescribeLifecycleHooks" not in [record.action for record in sandbox.journal.records()[start:]]
    assert summary["stopped_early"] is True and summary["groups"] == 0
