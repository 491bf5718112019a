"""Issue 13's "done when", end to end through the real SQS trigger: {slot} numbers under concurrency, throttling
and redeliveries, their reuse, a pool shared by two groups, and two VPCs giving one name to two instances.

Progress is read from the sandbox's lifecycle journal (in-process, no API call) while throttling is on, so the
test's own polling never takes tokens from the function's buckets.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.config import Config

from sandbox import Sandbox
from sandbox.faults import AUTOSCALING, EC2_CREATE_TAGS, EC2_NON_MUTATING, BucketSpec, ErrorKind
from sandbox.lambda_runtime import FunctionLogs
from scenarios import World, build_world, create_slot_table
from tests.support.function import asg_namer, deployed
from tests.support.waiting import wait_for
from tests.support.world import expected_name, group_instances

WAIT = 240.0  # bounds a failing test only
SLOT_TEMPLATE = json.dumps({"asg-namer:name-template": "{tag:App}-{tag:Env}-{slot:2}"})
PATIENT = Config(retries={"mode": "standard", "max_attempts": 10})


def numbered_world(sandbox: Sandbox, name: str) -> World:
    return build_world(
        name, endpoint_url=sandbox.endpoint_url, notification_metadata=SLOT_TEMPLATE, visibility_timeout=60
    )


def served_by(sandbox: Sandbox, world: World, deployment: World) -> None:
    """Points the world's hook at another world's queue: one deployment serves both groups."""
    sandbox.client("autoscaling").put_lifecycle_hook(
        AutoScalingGroupName=world.asg_name,
        LifecycleHookName=world.hook_name,
        NotificationTargetARN=deployment.queue_arn,
        RoleARN=deployment.role_arn,
    )


def in_service(sandbox: Sandbox, *worlds: World) -> dict[str, Any]:
    """Instance id -> the journal's InService transition, for the worlds' groups (no API call)."""
    return {
        event.instance_id: event
        for world in worlds
        for event in sandbox.lifecycle.events(asg=world.asg_name)
        if event.to_state == "InService"
    }


def live_names(sandbox: Sandbox, *worlds: World) -> dict[str, str | None]:
    return {i: f["name"] for world in worlds for i, f in group_instances(sandbox, world).items()}


def numbers(names: list[str | None], prefix: str = "store-release-") -> list[int]:
    return sorted(int(str(name).removeprefix(prefix)) for name in names)


def test_fifty_launches_into_one_pool_get_exactly_one_to_fifty_and_reuse_the_numbers_of_terminated_ones(
    sandbox: Sandbox, unique: str, logs: FunctionLogs
) -> None:
    # GIVEN a group whose hook template numbers its instances, the slot table, and the function behind its SQS
    # trigger with up to five invocations at once, batches of five
    world = numbered_world(sandbox, f"pool-{unique}")
    table = create_slot_table(f"slots-{unique}", sandbox.endpoint_url)
    function = asg_namer({"QUEUE_ARN": world.queue_arn, "SLOT_TABLE": table}, timeout=60)
    autoscaling = sandbox.client("autoscaling", config=PATIENT)
    # AND throttling (small EC2 and Auto Scaling buckets), throttled DynamoDB transactions, and redeliveries
    controls = sandbox.controls
    controls.reseed(13)
    try:
        with deployed(sandbox, world, function, logs, batch_size=5, concurrency=5) as (trigger, _):
            controls.set_throttling(
                buckets={
                    EC2_CREATE_TAGS: BucketSpec(10, 10),
                    EC2_NON_MUTATING: BucketSpec(20, 10),
                    AUTOSCALING: BucketSpec(10, 8),
                }
            )
            controls.inject_error("ec2", "*", ErrorKind.REQUEST_LIMIT_EXCEEDED, probability=0.1)
            controls.inject_error("autoscaling", "*", ErrorKind.THROTTLING, probability=0.1)
            controls.inject_error(
                "dynamodb",
                "TransactWriteItems",
                ErrorKind.CUSTOM,
                probability=0.2,
                status=400,
                code="ThrottlingException",
                message="Rate of requests exceeds the allowed throughput.",
            )
            # WHEN the group scales out to fifty, then ten of the launch messages are delivered again
            autoscaling.set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=50)
            wait_for(lambda: len(in_service(sandbox, world)) == 50, timeout=WAIT, interval=0.2)
            send_again(sandbox, world, 10)
            assert trigger.wait_until_idle(timeout=WAIT)
            first = sorted(in_service(sandbox, world))
            injected = controls.stats()["injected"]["by_kind"]
            # AND three of them terminate (the group replaces them)
            names = live_names(sandbox, world)
            gone = [i for i in first if names[i] in ("store-release-07", "store-release-23", "store-release-41")]
            for instance_id in gone:
                autoscaling.terminate_instance_in_auto_scaling_group(
                    InstanceId=instance_id, ShouldDecrementDesiredCapacity=False
                )
            wait_for(lambda: len(in_service(sandbox, world)) == 53, timeout=WAIT, interval=0.2)
            assert trigger.wait_until_idle(timeout=WAIT)
    finally:
        controls.reset()
    # THEN the first fifty were named exactly 1..50: no duplicate, no gap, each before it entered service
    entered = in_service(sandbox, world)
    assert numbers([entered[i].tags.get("Name") for i in first]) == list(range(1, 51))
    # AND the next three launches got the terminated ones' numbers back
    replacements = sorted(set(entered) - set(first))
    assert numbers([entered[i].tags.get("Name") for i in replacements]) == [7, 23, 41]
    assert numbers(list(live_names(sandbox, world).values())) == list(range(1, 51))
    # AND it ran under the conditions asked for: several environments at once, throttling, redeliveries
    stats = function.stats()
    assert stats.max_concurrent >= 2 and stats.environments_created >= 2
    assert all(injected.get(kind, 0) > 0 for kind in ("RequestLimitExceeded", "Throttling", "custom")), injected
    assert trigger.stats().records_delivered >= 53 + 10


def send_again(sandbox: Sandbox, world: World, count: int) -> None:
    """At-least-once delivery: copies of real launch notifications of the group, sent once more."""
    wait_for(lambda: len(launch_notifications(sandbox, world)) >= count, timeout=WAIT)
    sqs = sandbox.client("sqs", config=PATIENT)
    for notification in launch_notifications(sandbox, world)[:count]:
        sqs.send_message(QueueUrl=world.queue_url, MessageBody=json.dumps(notification.body))


def launch_notifications(sandbox: Sandbox, world: World) -> list[Any]:
    return [n for n in sandbox.lifecycle.notifications(asg=world.asg_name) if n.kind == "launch"]


def test_two_groups_rendering_the_same_prefix_share_one_pool(sandbox: Sandbox, unique: str, logs: FunctionLogs) -> None:
    # GIVEN two groups with the same tags and the same slot template, served by one deployment
    first = numbered_world(sandbox, f"twin-a-{unique}")
    second = numbered_world(sandbox, f"twin-b-{unique}")
    served_by(sandbox, second, first)
    table = create_slot_table(f"slots-{unique}", sandbox.endpoint_url)
    function = asg_namer({"QUEUE_ARN": first.queue_arn, "SLOT_TABLE": table, "TIME_MARGIN_SECONDS": "2"}, timeout=8)
    with deployed(sandbox, first, function, logs) as (trigger, _):
        # WHEN both scale out to three at the same time
        autoscaling = sandbox.client("autoscaling")
        for world in (first, second):
            autoscaling.set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=3)
        wait_for(lambda: len(in_service(sandbox, first, second)) == 6, timeout=WAIT, interval=0.2)
        assert trigger.wait_until_idle(timeout=WAIT)
    # THEN they share one numbering: 1..6 across both groups, each name once
    assert numbers(list(live_names(sandbox, first, second).values())) == [1, 2, 3, 4, 5, 6]
    pools = sandbox.client("dynamodb").scan(
        TableName=table, ProjectionExpression="#p", ExpressionAttributeNames={"#p": "pool"}
    )
    assert {item["pool"]["S"] for item in pools["Items"]} == {"store-release-{slot}"}


def test_two_vpcs_giving_two_instances_one_name_the_queue_path_suffixes_the_second(
    sandbox: Sandbox, unique: str, logs: FunctionLogs
) -> None:
    # GIVEN two groups with the same tags in two VPCs whose subnets share their last two octets (10.0.232.x and
    # 10.1.232.x), served by one deployment with the default template (last two IP octets)
    first = build_world(f"vpc-a-{unique}", endpoint_url=sandbox.endpoint_url, cidr_third_octet=232)
    second = build_world(
        f"vpc-b-{unique}", endpoint_url=sandbox.endpoint_url, cidr_second_octet=1, cidr_third_octet=232
    )
    served_by(sandbox, second, first)
    function = asg_namer({"QUEUE_ARN": first.queue_arn, "TIME_MARGIN_SECONDS": "2"}, timeout=8)
    autoscaling = sandbox.client("autoscaling")
    with deployed(sandbox, first, function, logs) as (trigger, _):
        # WHEN the first group's instance is named, then the second group's launches
        autoscaling.set_desired_capacity(AutoScalingGroupName=first.asg_name, DesiredCapacity=1)
        wait_for(lambda: len(in_service(sandbox, first)) == 1, timeout=WAIT, interval=0.2)
        autoscaling.set_desired_capacity(AutoScalingGroupName=second.asg_name, DesiredCapacity=1)
        wait_for(lambda: len(in_service(sandbox, second)) == 1, timeout=WAIT, interval=0.2)
        assert trigger.wait_until_idle(timeout=WAIT)
    ((older, a),) = group_instances(sandbox, first).items()
    ((younger, b),) = group_instances(sandbox, second).items()
    assert a["ip"].split(".")[2:] == b["ip"].split(".")[2:]  # the premise: one name for both
    # THEN the first keeps the convention's name and the second carries it suffixed with its id's last four
    assert a["name"] == expected_name(a["ip"])
    assert b["name"] == f"{expected_name(b['ip'])}-{younger[-4:]}"
    assert b["name"] != a["name"]
    assert logs.metric_totals()["NameCollisions"] == 1
    # AND neither entered service without its final name
    assert in_service(sandbox, second)[younger].tags["Name"] == b["name"]
    assert in_service(sandbox, first)[older].tags["Name"] == a["name"]
