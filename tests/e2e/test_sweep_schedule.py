"""Issue 12's "done when", end to end: the function deployed behind its SQS trigger and its schedule (one function,
two triggers, shared execution environments), the sweep fired by the schedule, nothing of ours mocked.

The schedule runs at the stack's default interval (ten minutes); each test fires it with ``fire_now`` when the
story needs a sweep, so nothing depends on the machine's speed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cli.main import main as asg_namer_cli
from sandbox import Sandbox
from sandbox.lambda_runtime import FunctionLogs
from sandbox.schedule import Schedule
from scenarios import World, build_world
from tests.support.function import asg_namer, deployed
from tests.support.waiting import wait_for
from tests.support.world import (
    create_tags_by_instance,
    expected_name,
    group_instances,
    launch_before_the_hook,
    writes_since,
)

WAIT = 300.0  # bounds a failing test only


def sweep(schedule: Schedule) -> dict[str, Any]:
    """One scheduled sweep, now; its JSON summary."""
    fired = schedule.fire_now().wait(WAIT)
    assert fired.succeeded, fired.attempts
    summary: dict[str, Any] = fired.response
    return summary


def env(world: World, **extra: str) -> dict[str, str]:
    """The stack's environment for the function: its queue, and a margin sized for a 20 s timeout."""
    return {"QUEUE_ARN": world.queue_arn, "TIME_MARGIN_SECONDS": "3", **extra}


def dlq_depth(sandbox: Sandbox, world: World) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sandbox.client("sqs").get_queue_attributes(QueueUrl=world.dlq_url, AttributeNames=names)
    return sum(int(v) for v in attributes["Attributes"].values())


def test_a_hook_attached_after_five_launches_one_sweep_names_them_the_next_writes_nothing(
    sandbox: Sandbox, unique: str, logs: FunctionLogs
) -> None:
    # GIVEN a group that launched five instances before its hook was attached (no message ever came)
    world = build_world(f"late-hook-{unique}", endpoint_url=sandbox.endpoint_url)
    ids = launch_before_the_hook(sandbox, world, 5)
    with deployed(sandbox, world, asg_namer(env(world)), logs) as (trigger, schedule):
        assert trigger.wait_until_idle(timeout=WAIT)  # the hook's test notification, acknowledged
        # WHEN the schedule fires
        summary = sweep(schedule)
        # THEN one sweep names all five by the convention
        instances = group_instances(sandbox, world)
        assert all(instances[i]["name"] == expected_name(instances[i]["ip"]) for i in ids)
        assert (summary["groups"], summary["instances"], summary["named"], summary["released"]) == (1, 5, 5, 0)
        # AND the next sweep makes no write call
        start = len(sandbox.journal.records())
        assert sweep(schedule)["named"] == 0
        assert writes_since(sandbox, start) == []
    assert logs.metric_totals()["SweepInstancesNamed"] == 5


def test_messages_purged_after_a_scale_out_of_ten_the_first_sweep_after_the_threshold_names_and_releases_them(
    sandbox: Sandbox, unique: str, logs: FunctionLogs
) -> None:
    # GIVEN a scale-out of ten whose messages were purged before the function saw them, and a bystander group
    # this deployment does not serve, with an instance waiting on its own hook
    world = build_world(f"purged-{unique}", endpoint_url=sandbox.endpoint_url)
    bystander = build_world(f"bystander-{unique}", endpoint_url=sandbox.endpoint_url)
    autoscaling = sandbox.client("autoscaling")
    autoscaling.set_desired_capacity(AutoScalingGroupName=bystander.asg_name, DesiredCapacity=1)
    autoscaling.set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=10)
    sandbox.client("sqs").purge_queue(QueueUrl=world.queue_url)
    stuck_after = 2
    ids = sorted(group_instances(sandbox, world))
    # AND every instance has waited longer than SWEEP_STUCK_AFTER_SECONDS since its launch
    wait_for(lambda: all(waited(sandbox, i) > stuck_after for i in ids), timeout=WAIT, interval=0.2)
    function = asg_namer(env(world, SWEEP_STUCK_AFTER_SECONDS=str(stuck_after)))
    with deployed(sandbox, world, function, logs) as (_, schedule):
        start = len(sandbox.journal.records())
        # WHEN the schedule fires once
        summary = sweep(schedule)
    # THEN every instance is named and InService
    assert (summary["named"], summary["released"]) == (10, 10)
    instances = group_instances(sandbox, world)
    assert all(f["state"] == "InService" and f["name"] == expected_name(f["ip"]) for f in instances.values())
    # AND nothing else was touched: one CreateTags and one completion per instance, the bystander still waits
    assert create_tags_by_instance(sandbox, start) == dict.fromkeys(ids, 1)
    assert sorted(writes_since(sandbox, start)) == ["CompleteLifecycleAction"] * 10 + ["CreateTags"] * 10
    (waiting,) = group_instances(sandbox, bystander).values()
    assert (waiting["state"], waiting["name"]) == ("Pending:Wait", None)


def waited(sandbox: Sandbox, instance_id: str) -> float:
    """Seconds since the instance's LaunchTime, as the function measures it (EC2's clock against its own)."""
    described = sandbox.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return (datetime.now(UTC) - described["LaunchTime"]).total_seconds()


def test_a_launch_successful_groups_dropped_event_is_made_up_for_by_the_sweep(
    sandbox: Sandbox, unique: str, logs: FunctionLogs
) -> None:
    # GIVEN a group without a hook, served through EventBridge's Launch Successful events (SWEEP_GROUPS), whose
    # events for two launches were dropped (EventBridge delivers on a best-effort basis)
    world = build_world(f"launched-{unique}", endpoint_url=sandbox.endpoint_url)
    autoscaling = sandbox.client("autoscaling")
    autoscaling.delete_lifecycle_hook(AutoScalingGroupName=world.asg_name, LifecycleHookName=world.hook_name)
    autoscaling.set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=2)
    with deployed(sandbox, world, asg_namer(env(world, SWEEP_GROUPS=world.asg_name)), logs) as (_, schedule):
        # WHEN the schedule fires
        summary = sweep(schedule)
    # THEN both are named
    assert summary["named"] == 2
    assert all(f["name"] == expected_name(f["ip"]) for f in group_instances(sandbox, world).values())


def test_an_unserved_group_stays_unnamed_and_a_hand_set_name_stays_unless_the_cli_fixes_drift(
    sandbox: Sandbox, unique: str, logs: FunctionLogs
) -> None:
    # GIVEN a served group with two instances launched before its hook, one renamed by hand, and a group whose
    # hook notifies another deployment's queue, with an unnamed instance
    world = build_world(f"served-{unique}", endpoint_url=sandbox.endpoint_url)
    other = build_world(f"unserved-{unique}", endpoint_url=sandbox.endpoint_url)
    renamed, plain = launch_before_the_hook(sandbox, world, 2)
    (theirs,) = launch_before_the_hook(sandbox, other, 1)
    ec2 = sandbox.client("ec2")
    ec2.create_tags(Resources=[renamed], Tags=[{"Key": "Name", "Value": "hand-set"}])
    with deployed(sandbox, world, asg_namer(env(world)), logs) as (_, schedule):
        # WHEN the schedule fires
        summary = sweep(schedule)
    # THEN the unnamed served instance is named, the hand-set name stays (drift), the other group is untouched
    served = group_instances(sandbox, world)
    assert served[plain]["name"] == expected_name(served[plain]["ip"])
    assert served[renamed]["name"] == "hand-set"
    assert summary["drift"] == 1 and summary["drifted"][0]["instance"] == renamed
    assert group_instances(sandbox, other)[theirs]["name"] is None
    # WHEN the operator runs `asg-namer sweep --fix-drift` against the same deployment
    code = asg_namer_cli(["sweep", "--queue-arn", world.queue_arn, "--fix-drift", "--yes"])
    # THEN the hand-set name is replaced by the convention's, and still nothing of the other group is touched
    assert code == 0
    served = group_instances(sandbox, world)
    assert served[renamed]["name"] == expected_name(served[renamed]["ip"])
    assert group_instances(sandbox, other)[theirs]["name"] is None


def test_a_sweep_racing_the_queue_path_names_and_releases_each_instance_once(
    sandbox: Sandbox, unique: str, logs: FunctionLogs
) -> None:
    # GIVEN the queue path running and a sweep that releases every waiting instance at once (threshold 0), and
    # private IPs that appear two seconds after launch: both paths wait for them, then race
    world = build_world(f"race-{unique}", endpoint_url=sandbox.endpoint_url)
    sandbox.controls.set_latency(base_ms=5, jitter_ms=10)
    sandbox.controls.set_private_ip_delay(2.0)
    function = asg_namer(env(world, SWEEP_STUCK_AFTER_SECONDS="0"))
    count = 8
    try:
        with deployed(sandbox, world, function, logs, concurrency=4) as (trigger, schedule):
            start = len(sandbox.journal.records())
            # WHEN the group scales out and sweeps fire one after the other until every instance is in service
            # (one sweep at a time, as the schedule runs them: its interval is longer than the function's timeout)
            sandbox.client("autoscaling").set_desired_capacity(
                AutoScalingGroupName=world.asg_name, DesiredCapacity=count
            )
            sweeps = 0
            while not all_in_service(sandbox, world, count):
                sweep(schedule)
                sweeps += 1
            assert trigger.wait_until_idle(timeout=WAIT)
    finally:
        sandbox.controls.reset()
    # THEN each instance ended named and was released exactly once
    instances = group_instances(sandbox, world)
    assert len(instances) == count
    assert all(f["state"] == "InService" and f["name"] == expected_name(f["ip"]) for f in instances.values())
    released = [e.instance_id for e in sandbox.lifecycle.events(asg=world.asg_name) if e.to_state == "InService"]
    assert sorted(released) == sorted(instances)
    # AND at most two CreateTags per instance (one per path), and no error reached the DLQ
    tagged = create_tags_by_instance(sandbox, start)
    assert all(n <= 2 for n in tagged.values()), tagged
    assert dlq_depth(sandbox, world) == 0
    # AND between them the two paths completed each action once (the later one found it done and acknowledged)
    totals = logs.metric_totals()
    assert totals.get("LifecycleActionsCompleted", 0) + totals.get("SweepActionsReleased", 0) == count
    assert sweeps >= 1


def all_in_service(sandbox: Sandbox, world: World, count: int) -> bool:
    states = [f["state"] for f in group_instances(sandbox, world).values()]
    return len(states) == count and all(s == "InService" for s in states)
