"""DescribeScalingActivities of the embedded local AWS, over HTTP with plain boto3 (moto alone answers []).

The texts are Auto Scaling's: ``Launching a new EC2 instance: i-...``, ``Terminating EC2 instance: i-...``, and
for a launch whose lifecycle action was abandoned the StatusMessage of AWS's knowledge-center article.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from sandbox import Sandbox
from tests.support.hooked_world import HookedWorld, error_of, fast_clock
from tests.support.waiting import wait_for

ABANDONED = (
    "Instance failed to complete user's Lifecycle Action: Lifecycle Action with token {token} was abandoned: {why}"
)


@pytest.fixture
def world(sandbox: Sandbox, unique: str) -> HookedWorld:
    return HookedWorld(sandbox, unique)


def activities(world: HookedWorld, group: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """Every page of DescribeScalingActivities, in the order AWS answers."""
    if group is not None:
        params["AutoScalingGroupName"] = group
    found: list[dict[str, Any]] = []
    while True:
        page = world.asg.describe_scaling_activities(**params)
        found += page["Activities"]
        if not page.get("NextToken"):
            return found
        params["NextToken"] = page["NextToken"]


def of(found: list[dict[str, Any]], description: str) -> dict[str, Any]:
    (activity,) = [a for a in found if a["Description"] == description]
    return activity


def launched(world: HookedWorld, group: str) -> list[str]:
    return sorted(world.states(group))


def test_a_launch_without_hooks_is_one_successful_activity(world: HookedWorld) -> None:
    # GIVEN a group without launch hooks
    group = world.group()
    # WHEN it scales out to two
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=2)
    # THEN each instance has a successful launch activity with AWS's texts and where it was placed
    found = activities(world, group)
    assert sorted(a["Description"] for a in found) == [
        f"Launching a new EC2 instance: {i}" for i in launched(world, group)
    ]
    for activity in found:
        assert activity["StatusCode"] == "Successful" and activity["Progress"] == 100
        assert activity["AutoScalingGroupName"] == group
        assert activity["AutoScalingGroupARN"].endswith(f":autoScalingGroupName/{group}")
        assert re.fullmatch(
            r"At \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ an instance was started in response to a difference between desired"
            r" and actual capacity, increasing the capacity from 0 to 2\.",
            activity["Cause"],
        )
        assert activity["StartTime"] <= activity["EndTime"]
        assert set(json.loads(activity["Details"])) == {"Subnet ID", "Availability Zone"}
        assert "StatusMessage" not in activity


def test_a_held_launch_is_in_progress_until_continue_makes_it_successful(world: HookedWorld) -> None:
    # GIVEN a hooked group with one instance waiting in Pending:Wait
    group, hook, body = world.waiting_instance()
    description = f"Launching a new EC2 instance: {body['EC2InstanceId']}"
    # THEN its launch is in progress, without an end
    waiting = of(activities(world, group), description)
    assert (waiting["StatusCode"], "EndTime" in waiting) == ("InProgress", False)
    assert waiting["Progress"] < 100
    # WHEN the action is completed with CONTINUE THEN the same activity is successful
    world.complete(group, hook, LifecycleActionToken=body["LifecycleActionToken"])
    done = of(activities(world, group), description)
    assert (done["ActivityId"], done["StatusCode"], done["Progress"]) == (waiting["ActivityId"], "Successful", 100)
    assert done["EndTime"] >= done["StartTime"]


def test_an_abandoned_launch_is_cancelled_with_awss_message_then_terminated_and_replaced(world: HookedWorld) -> None:
    # GIVEN a waiting instance
    url, arn = world.queue()
    group, hook, body = world.waiting_instance((url, arn))
    instance_id, token = body["EC2InstanceId"], body["LifecycleActionToken"]
    # WHEN its action is completed with ABANDON
    world.complete(group, hook, result="ABANDON", LifecycleActionToken=token)
    [replacement] = world.messages(url, 1)
    # THEN newest first: the replacement's launch, the termination, the cancelled launch with AWS's message
    found = activities(world, group)
    assert [a["Description"] for a in found] == [
        f"Launching a new EC2 instance: {replacement['EC2InstanceId']}",
        f"Terminating EC2 instance: {instance_id}",
        f"Launching a new EC2 instance: {instance_id}",
    ]
    cancelled, terminated = found[2], found[1]
    assert cancelled["StatusCode"] == "Cancelled"
    assert cancelled["StatusMessage"] == ABANDONED.format(
        token=token, why="Lifecycle Action Completed with ABANDON Result"
    )
    assert terminated["StatusCode"] == "Successful" and instance_id in terminated["Cause"]
    assert found[0]["StatusCode"] == "InProgress"


def test_a_heartbeat_timeout_with_abandon_says_so(world: HookedWorld, sandbox: Sandbox) -> None:
    # GIVEN a hook with the shortest heartbeat timeout and DefaultResult ABANDON, and a waiting instance
    group, _, body = world.waiting_instance(HeartbeatTimeout=30, DefaultResult="ABANDON")
    # WHEN the timeout passes (a 30 s timeout at 60x lasts half a second)
    with fast_clock(sandbox, 60):
        wait_for(lambda: body["EC2InstanceId"] not in world.states(group), timeout=30)
    # THEN its launch is cancelled by the heartbeat timeout
    cancelled = of(activities(world, group), f"Launching a new EC2 instance: {body['EC2InstanceId']}")
    assert cancelled["StatusCode"] == "Cancelled"
    assert cancelled["StatusMessage"] == ABANDONED.format(token=body["LifecycleActionToken"], why="Heartbeat Timeout")


def test_terminations_say_why(world: HookedWorld) -> None:
    # GIVEN three instances in service
    group = world.group()
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)
    first, second, _ = launched(world, group)
    # WHEN one is terminated through EC2, one through Auto Scaling (decrementing) and the group scales in by one
    world.ec2.terminate_instances(InstanceIds=[first])
    world.asg.terminate_instance_in_auto_scaling_group(InstanceId=second, ShouldDecrementDesiredCapacity=True)
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    # THEN each has a successful termination activity whose cause says why
    found = activities(world, group)
    terminations = {a["Description"].rsplit(" ", 1)[1]: a for a in found if a["Description"].startswith("Terminating")}
    assert all(a["StatusCode"] == "Successful" for a in terminations.values())
    assert "in response to an EC2 health check" in terminations[first]["Cause"]
    assert (
        f"instance {second} was taken out of service in response to a user request, shrinking the capacity"
        in (terminations[second]["Cause"])
    )
    (scaled_in,) = set(terminations) - {first, second}
    assert "shrinking the capacity from 2 to 1" in terminations[scaled_in]["Cause"]
    assert f"instance {scaled_in} was selected for termination" in terminations[scaled_in]["Cause"]
    # AND the group launched a replacement for the instance terminated through EC2 (three, then one more)
    assert len([a for a in found if a["Description"].startswith("Launching")]) == 4


def test_pages_of_max_records_cover_every_activity_once_newest_first(world: HookedWorld) -> None:
    # GIVEN a group with seven activities
    group = world.group()
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=5)
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)
    # WHEN read two at a time
    first_page = world.asg.describe_scaling_activities(AutoScalingGroupName=group, MaxRecords=2)
    paged = activities(world, group, MaxRecords=2)
    # THEN the pages hold every activity once, newest first, as one read of 100 does
    assert len(first_page["Activities"]) == 2 and first_page["NextToken"]
    whole = activities(world, group)
    assert [a["ActivityId"] for a in paged] == [a["ActivityId"] for a in whole]
    assert len(whole) == 7
    assert [a["StartTime"] for a in whole] == sorted((a["StartTime"] for a in whole), reverse=True)
    assert all(a["Description"].startswith("Terminating") for a in whole[:2])


def test_activity_ids_and_the_group_filter_choose_what_is_answered(world: HookedWorld) -> None:
    # GIVEN two groups with activities
    mine, theirs = world.group(), world.group()
    world.asg.set_desired_capacity(AutoScalingGroupName=mine, DesiredCapacity=2)
    world.asg.set_desired_capacity(AutoScalingGroupName=theirs, DesiredCapacity=1)
    # THEN the group filter answers only that group's, no filter answers both groups'
    assert {a["AutoScalingGroupName"] for a in activities(world, mine)} == {mine}
    everyone = {a["AutoScalingGroupName"] for a in activities(world)}
    assert {mine, theirs} <= everyone
    # AND ActivityIds answers exactly those
    wanted = activities(world, theirs)[0]["ActivityId"]
    assert [a["ActivityId"] for a in activities(world, ActivityIds=[wanted])] == [wanted]
    # AND a group nobody has answers none
    assert activities(world, "no-such-group-anywhere") == []


def test_a_deleted_groups_activities_need_include_deleted_groups(world: HookedWorld) -> None:
    # GIVEN a group that ran an instance and was deleted
    group = world.group()
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    world.asg.delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)
    # THEN its activities are answered only with IncludeDeletedGroups
    assert activities(world, group) == []
    kept = activities(world, group, IncludeDeletedGroups=True)
    assert [a["Description"].split(":")[0] for a in kept] == [
        "Terminating EC2 instance",
        "Launching a new EC2 instance",
    ]


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"MaxRecords": 101}, "ValidationError", "Member must have value less than or equal to 100"),
        ({"MaxRecords": 0}, "ValidationError", "Member must have value greater than or equal to 1"),
        ({"NextToken": "not-a-token"}, "InvalidNextToken", "The token 'not-a-token' is invalid."),
    ],
)
def test_bad_paging_parameters_are_refused_as_aws_refuses_them(
    world: HookedWorld, params: dict[str, Any], code: str, text: str
) -> None:
    group = world.group()
    answer = error_of(lambda: world.asg.describe_scaling_activities(AutoScalingGroupName=group, **params))
    assert answer[0] == code and text in answer[1] and answer[2] == 400


def test_times_are_on_the_sandbox_clock(world: HookedWorld, sandbox: Sandbox) -> None:
    # GIVEN a launch
    group = world.group()
    before = sandbox.clock.now()
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    after = sandbox.clock.now()
    # THEN its StartTime is the sandbox's moment of launch (milliseconds and all)
    (activity,) = activities(world, group)
    started = activity["StartTime"].astimezone(UTC)
    assert datetime.fromtimestamp(before, UTC) <= started <= datetime.fromtimestamp(after, UTC)
