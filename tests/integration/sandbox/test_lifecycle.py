"""Launch lifecycle hooks of the embedded local AWS, over HTTP with plain boto3.

Every expectation comes from AWS's documentation of lifecycle hooks (message shapes, error strings, timeouts).
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

import pytest
from botocore.config import Config

from sandbox import ACCOUNT_ID, DEFAULT_REGION, Sandbox
from sandbox.clock import SandboxClock
from sandbox.lifecycle import LifecycleEngine
from tests.support.hooked_world import LAUNCHING, PROPAGATED_TAGS, ROLE_ARN, HookedWorld, error_of, fast_clock
from tests.support.waiting import wait_for

TIME_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
LAUNCH_FIELDS = {
    "Origin",
    "Destination",
    "LifecycleHookName",
    "AccountId",
    "RequestId",
    "LifecycleTransition",
    "AutoScalingGroupName",
    "Service",
    "Time",
    "EC2InstanceId",
    "LifecycleActionToken",
}
TEST_FIELDS = {"AccountId", "RequestId", "AutoScalingGroupARN", "AutoScalingGroupName", "Service", "Event", "Time"}


@pytest.fixture
def world(sandbox: Sandbox, unique: str) -> HookedWorld:
    return HookedWorld(sandbox, unique)


def assert_launch_message(body: dict[str, Any], group: str, hook: str, metadata: str | None = None) -> None:
    expected_fields = LAUNCH_FIELDS | ({"NotificationMetadata"} if metadata is not None else set())
    assert set(body) == expected_fields
    assert all(isinstance(value, str) for value in body.values())
    assert body["Origin"] == "EC2"
    assert body["Destination"] == "AutoScalingGroup"
    assert body["LifecycleHookName"] == hook
    assert body["AccountId"] == ACCOUNT_ID
    assert body["LifecycleTransition"] == LAUNCHING
    assert body["AutoScalingGroupName"] == group
    assert body["Service"] == "AWS Auto Scaling"
    assert TIME_FORMAT.match(body["Time"]), body["Time"]
    assert body["EC2InstanceId"].startswith("i-")
    uuid.UUID(body["RequestId"])
    uuid.UUID(body["LifecycleActionToken"])
    if metadata is not None:
        assert body["NotificationMetadata"] == metadata


def launch_bodies(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in bodies if "LifecycleActionToken" in b]


# ----------------------------------------------------------------------------------------------- the scenario
def test_whole_launch_scenario(world: HookedWorld, sandbox: Sandbox) -> None:
    # GIVEN a VPC, a launch template, a queue with a DLQ and a group with 5 propagated tags, still empty
    url, arn = world.queue()
    group = world.group(desired=0)

    # WHEN a launch hook targeting the queue is put
    hook = world.launch_hook(group, arn, NotificationMetadata='{"prefix":"web"}')

    # THEN the queue gets the documented test notification and nothing else
    [test] = world.messages(url, 1)
    assert set(test) == TEST_FIELDS
    assert test["Event"] == "autoscaling:TEST_NOTIFICATION"
    assert test["Service"] == "AWS Auto Scaling"
    assert test["AccountId"] == ACCOUNT_ID
    assert test["AutoScalingGroupName"] == group
    assert test["AutoScalingGroupARN"].startswith(
        f"arn:aws:autoscaling:{DEFAULT_REGION}:{ACCOUNT_ID}:autoScalingGroup:"
    )
    assert test["AutoScalingGroupARN"].endswith(f":autoScalingGroupName/{group}")
    assert TIME_FORMAT.match(test["Time"])
    uuid.UUID(test["RequestId"])

    # WHEN the group scales out to 3
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)

    # THEN 3 instances wait in Pending:Wait and 3 documented messages arrive, one per instance
    states = world.states(group)
    assert list(states.values()) == ["Pending:Wait"] * 3
    assert set(world.instance_states(list(states)).values()) == {"Pending:Wait"}
    bodies = world.messages(url, 3)
    for body in bodies:
        assert_launch_message(body, group, hook, metadata='{"prefix":"web"}')
    assert {b["EC2InstanceId"] for b in bodies} == set(states)
    assert len({b["LifecycleActionToken"] for b in bodies}) == 3
    first, second, third = bodies
    tags = world.ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [first["EC2InstanceId"]]}])["Tags"]
    assert PROPAGATED_TAGS.items() <= {t["Key"]: t["Value"] for t in tags}.items()

    # WHEN the first is completed with CONTINUE
    world.complete(group, hook, LifecycleActionToken=first["LifecycleActionToken"])

    # THEN it is in service; completing it again is the documented ValidationError
    assert world.states(group)[first["EC2InstanceId"]] == "InService"
    code, message, status = error_of(
        lambda: world.complete(group, hook, LifecycleActionToken=first["LifecycleActionToken"])
    )
    assert (code, status) == ("ValidationError", 400)
    assert message == f"No active Lifecycle Action found with token {first['LifecycleActionToken']}"
    code, message, status = error_of(lambda: world.complete(group, hook, InstanceId=first["EC2InstanceId"]))
    assert (code, message, status) == (
        "ValidationError",
        f"No active Lifecycle Action found with instance ID {first['EC2InstanceId']}",
        400,
    )

    # WHEN the second is abandoned (by instance id)
    world.complete(group, hook, "ABANDON", InstanceId=second["EC2InstanceId"])

    # THEN it is terminated and out of the group, and a replacement waits with its own message
    assert world.ec2_state(second["EC2InstanceId"]) == "terminated"
    states = world.states(group)
    assert second["EC2InstanceId"] not in states
    assert len(states) == 3
    [replacement] = world.messages(url, 1)
    assert_launch_message(replacement, group, hook, metadata='{"prefix":"web"}')
    assert replacement["EC2InstanceId"] not in {first["EC2InstanceId"], second["EC2InstanceId"], third["EC2InstanceId"]}
    assert states[replacement["EC2InstanceId"]] == "Pending:Wait"
    assert states[third["EC2InstanceId"]] == "Pending:Wait"

    # WHEN the third gets a heartbeat
    before = sandbox.lifecycle.pending_actions(instance_id=third["EC2InstanceId"])[0]
    world.asg.record_lifecycle_action_heartbeat(
        AutoScalingGroupName=group, LifecycleHookName=hook, LifecycleActionToken=third["LifecycleActionToken"]
    )

    # THEN its timer restarted with the hook's HeartbeatTimeout and it still waits
    after = sandbox.lifecycle.pending_actions(instance_id=third["EC2InstanceId"])[0]
    assert after.heartbeats == before.heartbeats + 1
    assert after.deadline > before.deadline
    assert after.deadline <= after.global_deadline
    assert world.states(group)[third["EC2InstanceId"]] == "Pending:Wait"

    # AND the journal tells the story in order
    causes = [(e.from_state, e.to_state, e.cause) for e in sandbox.lifecycle.events(asg=group)]
    assert causes == [
        ("Pending", "Pending:Wait", "launch"),
        ("Pending", "Pending:Wait", "launch"),
        ("Pending", "Pending:Wait", "launch"),
        ("Pending:Wait", "InService", "CONTINUE"),
        ("Pending:Wait", "Terminated", "ABANDON"),
        ("Pending", "Pending:Wait", "launch"),
    ]


# ----------------------------------------------------------------------------------------------- hooks
def test_describe_lifecycle_hooks_reports_defaults_and_global_timeout(world: HookedWorld) -> None:
    # GIVEN a group and a queue
    _, arn = world.queue()
    group = world.group()

    # WHEN one hook takes the defaults and another sets a 60 s heartbeat
    world.launch_hook(group, arn, name="defaults")
    world.launch_hook(group, None, name="short", HeartbeatTimeout=60, DefaultResult="CONTINUE")

    # THEN both report what AWS reports
    hooks = {
        h["LifecycleHookName"]: h
        for h in world.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
    }
    assert hooks["defaults"]["HeartbeatTimeout"] == 3600
    assert hooks["defaults"]["GlobalTimeout"] == 172800
    assert hooks["defaults"]["DefaultResult"] == "ABANDON"
    assert hooks["defaults"]["NotificationTargetARN"] == arn
    assert hooks["defaults"]["RoleARN"] == ROLE_ARN
    assert "NotificationMetadata" not in hooks["defaults"]
    assert hooks["short"]["HeartbeatTimeout"] == 60
    assert hooks["short"]["GlobalTimeout"] == 6000
    assert hooks["short"]["DefaultResult"] == "CONTINUE"
    assert "NotificationTargetARN" not in hooks["short"]


def test_put_lifecycle_hook_update_keeps_unspecified_fields(world: HookedWorld) -> None:
    # GIVEN a hook with every field set
    url, arn = world.queue()
    group = world.group()
    hook = world.launch_hook(group, arn, NotificationMetadata="meta", HeartbeatTimeout=120, DefaultResult="CONTINUE")
    world.messages(url, 1)

    # WHEN it is updated with a new heartbeat only (no target: no new test message)
    world.asg.put_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName=hook, HeartbeatTimeout=300)

    # THEN everything else is unchanged
    [described] = world.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
    assert described == {
        "LifecycleHookName": hook,
        "AutoScalingGroupName": group,
        "LifecycleTransition": LAUNCHING,
        "NotificationTargetARN": arn,
        "RoleARN": ROLE_ARN,
        "NotificationMetadata": "meta",
        "HeartbeatTimeout": 300,
        "GlobalTimeout": 30000,
        "DefaultResult": "CONTINUE",
    }
    assert world.sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_update_with_target_sends_a_new_test_notification(world: HookedWorld) -> None:
    # GIVEN a hook without a target
    url, arn = world.queue()
    group = world.group()
    hook = world.launch_hook(group, None)

    # WHEN it is updated with a target
    world.asg.put_lifecycle_hook(
        AutoScalingGroupName=group, LifecycleHookName=hook, NotificationTargetARN=arn, RoleARN=ROLE_ARN
    )

    # THEN the target gets the test notification
    [test] = world.messages(url, 1)
    assert test["Event"] == "autoscaling:TEST_NOTIFICATION"


@pytest.mark.parametrize("timeout", [30, 7200])
def test_heartbeat_timeout_limits_are_accepted(world: HookedWorld, timeout: int) -> None:
    group = world.group()
    world.launch_hook(group, None, HeartbeatTimeout=timeout)
    [hook] = world.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
    assert hook["HeartbeatTimeout"] == timeout
    assert hook["GlobalTimeout"] == min(172800, 100 * timeout)


@pytest.mark.parametrize("timeout", [29, 7201])
def test_heartbeat_timeout_out_of_range_is_a_validation_error(world: HookedWorld, timeout: int) -> None:
    group = world.group()
    code, message, status = error_of(lambda: world.launch_hook(group, None, HeartbeatTimeout=timeout))
    assert (code, status) == ("ValidationError", 400)
    assert "heartbeatTimeout" in message
    assert world.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"] == []


def test_default_result_must_be_continue_or_abandon(world: HookedWorld) -> None:
    group = world.group()
    code, message, _ = error_of(lambda: world.launch_hook(group, None, DefaultResult="MAYBE"))
    assert code == "ValidationError"
    assert "DefaultResult" in message


@pytest.mark.parametrize(
    "target",
    [
        f"arn:aws:sqs:{DEFAULT_REGION}:{ACCOUNT_ID}:no-such-queue",
        f"arn:aws:sns:{DEFAULT_REGION}:{ACCOUNT_ID}:a-topic",  # SNS targets are not emulated
        f"arn:aws:sqs:eu-west-1:{ACCOUNT_ID}:other-region",
    ],
)
def test_target_that_is_not_an_existing_queue_is_rejected(world: HookedWorld, target: str) -> None:
    group = world.group()
    code, message, status = error_of(
        lambda: world.asg.put_lifecycle_hook(
            AutoScalingGroupName=group,
            LifecycleHookName="h",
            LifecycleTransition=LAUNCHING,
            NotificationTargetARN=target,
            RoleARN=ROLE_ARN,
        )
    )
    assert (code, status) == ("ValidationError", 400)
    assert message.startswith(f"Unable to publish test message to notification target {target} using IAM role")
    assert world.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"] == []


def test_fifo_queue_is_not_a_valid_target(world: HookedWorld) -> None:
    group = world.group()
    url = world.sqs.create_queue(QueueName=f"hooks-{world.unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    code, message, _ = error_of(lambda: world.launch_hook(group, world.queue_arn(url)))
    assert code == "ValidationError"
    assert message.startswith("Unable to publish test message")


def test_put_lifecycle_hook_on_unknown_group_is_a_validation_error(world: HookedWorld) -> None:
    code, message, status = error_of(lambda: world.launch_hook(f"missing-{world.unique}", None))
    assert (code, status) == ("ValidationError", 400)
    assert f"missing-{world.unique}" in message


# ----------------------------------------------------------------------------------------------- launches
def test_group_without_launch_hooks_launches_straight_into_service(world: HookedWorld, sandbox: Sandbox) -> None:
    # GIVEN a group with no hooks
    group = world.group()

    # WHEN it scales out
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=2)

    # THEN both instances are in service at once, and nothing waits
    assert list(world.states(group).values()) == ["InService", "InService"]
    assert sandbox.lifecycle.pending_actions(asg=group) == []


def test_update_auto_scaling_group_scale_out_waits_too(world: HookedWorld) -> None:
    # GIVEN a hooked group
    url, arn = world.queue()
    group = world.group()
    hook = world.launch_hook(group, arn)
    world.messages(url, 1)

    # WHEN UpdateAutoScalingGroup raises the capacity
    world.asg.update_auto_scaling_group(AutoScalingGroupName=group, DesiredCapacity=2)

    # THEN both new instances wait and are announced
    assert list(world.states(group).values()) == ["Pending:Wait", "Pending:Wait"]
    for body in world.messages(url, 2):
        assert_launch_message(body, group, hook)


def test_group_created_with_hook_specification_gets_messages_for_initial_capacity(
    world: HookedWorld, sandbox: Sandbox
) -> None:
    # GIVEN a queue
    url, arn = world.queue()

    # WHEN a group is created with capacity 2 and a LifecycleHookSpecificationList
    group = world.group(
        desired=2,
        hooks=[
            {
                "LifecycleHookName": "name-instance",
                "LifecycleTransition": LAUNCHING,
                "NotificationTargetARN": arn,
                "RoleARN": ROLE_ARN,
                "HeartbeatTimeout": 300,
                "NotificationMetadata": "spec",
            }
        ],
    )

    # THEN the hook exists with its fields, the first instances wait, and the queue has the test message
    # followed by one launch message per initial instance
    [hook] = world.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
    assert (hook["NotificationTargetARN"], hook["HeartbeatTimeout"], hook["DefaultResult"]) == (arn, 300, "ABANDON")
    states = world.states(group)
    assert list(states.values()) == ["Pending:Wait", "Pending:Wait"]
    test, *launches = world.messages(url, 3)
    assert test["Event"] == "autoscaling:TEST_NOTIFICATION"
    for body in launches:
        assert_launch_message(body, group, "name-instance", metadata="spec")
    assert {b["EC2InstanceId"] for b in launches} == set(states)
    assert [n.kind for n in sandbox.lifecycle.notifications(asg=group)] == ["test", "launch", "launch"]


def test_group_creation_with_bad_hook_specification_creates_nothing(world: HookedWorld) -> None:
    # WHEN a group is created with a hook whose target does not exist
    name = f"asg-{world.unique}-bad"
    code, message, _ = error_of(
        lambda: world.group(
            desired=1,
            name=name,
            hooks=[
                {
                    "LifecycleHookName": "h",
                    "LifecycleTransition": LAUNCHING,
                    "NotificationTargetARN": f"arn:aws:sqs:{DEFAULT_REGION}:{ACCOUNT_ID}:nope-{world.unique}",
                    "RoleARN": ROLE_ARN,
                }
            ],
        )
    )

    # THEN it fails like PutLifecycleHook would, and neither the group nor the hook exists
    assert code == "ValidationError"
    assert message.startswith("Unable to publish test message")
    assert world.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"] == []
    assert world.asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"] == []


def test_two_launch_hooks_instance_enters_service_only_after_both(world: HookedWorld, sandbox: Sandbox) -> None:
    # GIVEN a group with two launch hooks on two queues
    url_a, arn_a = world.queue("a")
    url_b, arn_b = world.queue("b")
    group = world.group()
    world.launch_hook(group, arn_a, name="hook-a")
    world.launch_hook(group, arn_b, name="hook-b")
    world.messages(url_a, 1)
    world.messages(url_b, 1)

    # WHEN one instance launches
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    [a] = world.messages(url_a, 1)
    [b] = world.messages(url_b, 1)
    assert a["EC2InstanceId"] == b["EC2InstanceId"]
    assert a["LifecycleActionToken"] != b["LifecycleActionToken"]
    instance = a["EC2InstanceId"]

    # THEN completing the first hook is not enough
    world.complete(group, "hook-a", LifecycleActionToken=a["LifecycleActionToken"])
    assert world.states(group)[instance] == "Pending:Wait"
    assert [p.hook for p in sandbox.lifecycle.pending_actions(instance_id=instance)] == ["hook-b"]

    # AND completing the second lets it in
    world.complete(group, "hook-b", InstanceId=instance)
    assert world.states(group)[instance] == "InService"
    [entered] = [e for e in sandbox.lifecycle.events(instance_id=instance) if e.to_state == "InService"]
    assert (entered.cause, entered.hook) == ("CONTINUE", "hook-b")


def test_journal_records_the_tags_at_each_transition(world: HookedWorld, sandbox: Sandbox) -> None:
    # GIVEN a waiting instance
    group, hook, body = world.waiting_instance()
    instance = body["EC2InstanceId"]

    # WHEN it is named and then completed
    world.ec2.create_tags(Resources=[instance], Tags=[{"Key": "Name", "Value": "web-001"}])
    world.complete(group, hook, LifecycleActionToken=body["LifecycleActionToken"])

    # THEN the journal shows it had no name while waiting and its name when it entered service
    events = sandbox.lifecycle.events(instance_id=instance)
    assert [(e.to_state, e.tags.get("Name")) for e in events] == [("Pending:Wait", None), ("InService", "web-001")]
    assert events[0].time <= events[1].time
    # AND each entry holds every tag of that moment (the group's propagated ones too), read-only
    assert all(PROPAGATED_TAGS.items() <= e.tags.items() for e in events)
    with pytest.raises(TypeError):
        events[1].tags["Name"] = "renamed"  # type: ignore[index]


def test_terminating_a_waiting_instance_closes_its_action(world: HookedWorld, sandbox: Sandbox) -> None:
    # GIVEN a waiting instance
    url, arn = world.queue()
    group, hook, body = world.waiting_instance((url, arn))

    # WHEN it is terminated through EC2
    world.ec2.terminate_instances(InstanceIds=[body["EC2InstanceId"]])

    # THEN its action is no longer active and the group replaced it (with a new message)
    code, message, _ = error_of(lambda: world.complete(group, hook, LifecycleActionToken=body["LifecycleActionToken"]))
    assert message == f"No active Lifecycle Action found with token {body['LifecycleActionToken']}"
    [replacement] = world.messages(url, 1)
    assert replacement["EC2InstanceId"] != body["EC2InstanceId"]
    closed = [e for e in sandbox.lifecycle.events(instance_id=body["EC2InstanceId"]) if e.from_state == "Pending:Wait"]
    assert [(e.to_state, e.cause) for e in closed] == [("Terminated", "external")]


# ----------------------------------------------------------------------------------------------- completion errors
def test_complete_lifecycle_action_bad_requests_are_validation_errors(world: HookedWorld) -> None:
    # GIVEN a hooked group with one waiting instance
    url, arn = world.queue()
    group = world.group()
    hook = world.launch_hook(group, arn)
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    [body] = launch_bodies(world.messages(url, 2))
    token = body["LifecycleActionToken"]
    unknown = str(uuid.uuid4())

    # THEN each bad request gets its ValidationError (HTTP 400), and the action stays open
    cases = {
        "bad result": (
            lambda: world.complete(group, hook, "MAYBE", LifecycleActionToken=token),
            "LifecycleActionResult",
        ),
        "unknown token": (
            lambda: world.complete(group, hook, LifecycleActionToken=unknown),
            f"No active Lifecycle Action found with token {unknown}",
        ),
        "unknown instance": (
            lambda: world.complete(group, hook, InstanceId="i-0123456789abcdef0"),
            "No active Lifecycle Action found with instance ID i-0123456789abcdef0",
        ),
        "no identifier": (lambda: world.complete(group, hook), "LifecycleActionToken or InstanceId"),
        "unknown group": (
            lambda: world.complete(f"nope-{world.unique}", hook, LifecycleActionToken=token),
            "not found",
        ),
        "unknown hook": (lambda: world.complete(group, "other-hook", LifecycleActionToken=token), "other-hook"),
        "heartbeat unknown token": (
            lambda: world.asg.record_lifecycle_action_heartbeat(
                AutoScalingGroupName=group, LifecycleHookName=hook, LifecycleActionToken=unknown
            ),
            f"No active Lifecycle Action found with token {unknown}",
        ),
    }
    for label, (call, expected) in cases.items():
        code, message, status = error_of(call)
        assert (code, status) == ("ValidationError", 400), label
        assert expected in message, (label, message)
    assert world.states(group)[body["EC2InstanceId"]] == "Pending:Wait"


def test_missing_required_parameters_get_aws_shaped_errors(world: HookedWorld, sandbox: Sandbox) -> None:
    # GIVEN a client that skips botocore's own checks, so the sandbox sees the raw request
    raw = sandbox.client("autoscaling", config=Config(parameter_validation=False))
    group = world.group()

    # THEN each missing parameter is a ValidationError naming it, never a server error
    for call, member in [
        (
            lambda: raw.complete_lifecycle_action(AutoScalingGroupName=group, LifecycleActionResult="CONTINUE"),
            "lifecycleHookName",
        ),
        (
            lambda: raw.complete_lifecycle_action(LifecycleHookName="h", LifecycleActionResult="CONTINUE"),
            "autoScalingGroupName",
        ),
        (
            lambda: raw.complete_lifecycle_action(AutoScalingGroupName=group, LifecycleHookName="h"),
            "lifecycleActionResult",
        ),
        (lambda: raw.record_lifecycle_action_heartbeat(AutoScalingGroupName=group), "lifecycleHookName"),
        (lambda: raw.put_lifecycle_hook(AutoScalingGroupName=group), "lifecycleHookName"),
    ]:
        code, message, status = error_of(call)
        assert (code, status) == ("ValidationError", 400)
        assert f"Value null at '{member}'" in message


def test_heartbeat_never_extends_past_the_global_timeout(world: HookedWorld, sandbox: Sandbox) -> None:
    # GIVEN a waiting instance whose global timeout is (made) close
    url, arn = world.queue()
    group = world.group()
    hook = world.launch_hook(group, arn, HeartbeatTimeout=60)
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    [body] = launch_bodies(world.messages(url, 2))
    token = body["LifecycleActionToken"]
    with sandbox.lock:  # white-box: waiting ~100 heartbeats of real time is not an option in a test
        sandbox.lifecycle._actions[token].global_deadline = sandbox.clock.now() + 45

    # WHEN a heartbeat comes
    world.asg.record_lifecycle_action_heartbeat(
        AutoScalingGroupName=group, LifecycleHookName=hook, InstanceId=body["EC2InstanceId"]
    )

    # THEN the new deadline is the global deadline, not now + 60
    [action] = sandbox.lifecycle.pending_actions(instance_id=body["EC2InstanceId"])
    assert action.deadline == action.global_deadline


# ----------------------------------------------------------------------------------------------- timeouts
@pytest.mark.parametrize("default_result", ["CONTINUE", "ABANDON"])
def test_heartbeat_timeout_applies_the_default_result(
    world: HookedWorld, sandbox: Sandbox, default_result: str
) -> None:
    # GIVEN a hook with a 30 s heartbeat and a waiting instance
    url, arn = world.queue()
    group = world.group()
    hook = world.launch_hook(group, arn, HeartbeatTimeout=30, DefaultResult=default_result)
    world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
    [body] = launch_bodies(world.messages(url, 2))
    instance, token = body["EC2InstanceId"], body["LifecycleActionToken"]

    # WHEN nobody completes it while the clock runs 60x (30 s of sandbox time is ~0.5 s real)
    with fast_clock(sandbox, 60):
        timed_out = wait_for(
            lambda: [e for e in sandbox.lifecycle.events(instance_id=instance) if e.cause.startswith("timeout:")]
        )
        if default_result == "ABANDON":
            replacement = wait_for(lambda: [i for i in world.states(group) if i != instance])
        # stop the chain of timeouts before restoring the clock
        world.asg.delete_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName=hook)

    # THEN the hook's DefaultResult was applied, and the token is no longer active
    assert [(e.to_state, e.cause) for e in timed_out] == [
        ("InService" if default_result == "CONTINUE" else "Terminated", f"timeout:{default_result}")
    ]
    code, message, _ = error_of(lambda: world.complete(group, hook, LifecycleActionToken=token))
    assert code == "ValidationError"
    if default_result == "CONTINUE":
        assert world.states(group)[instance] == "InService"
    else:
        assert world.ec2_state(instance) == "terminated"
        assert instance not in world.states(group)
        launches = [n for n in sandbox.lifecycle.notifications(asg=group) if n.kind == "launch"]
        assert replacement[0] in {n.instance_id for n in launches}


# ----------------------------------------------------------------------------------------------- engine
def test_timer_thread_starts_once_and_stops_cleanly() -> None:
    # GIVEN an engine of its own (the session sandbox keeps running its own)
    engine = LifecycleEngine(clock=SandboxClock(), lock=threading.RLock(), poll_interval=0.01)

    # WHEN it is started twice, stopped, started and stopped again
    engine.start()
    first = [t for t in threading.enumerate() if t.name == "sandbox-lifecycle-timer"]
    engine.start()
    second = [t for t in threading.enumerate() if t.name == "sandbox-lifecycle-timer"]
    engine.stop()
    stopped = engine.running
    engine.start()
    engine.stop()

    # THEN only one timer ran at a time and none is left behind
    assert len(second) == len(first)
    assert stopped is False
    assert engine.running is False


def test_actions_of_instances_that_left_their_groups_close_and_the_others_stay_open(
    world: HookedWorld, sandbox: Sandbox
) -> None:
    # GIVEN two groups with a launch hook each to one queue, three instances waiting in each
    url, arn = world.queue()
    groups = [world.group(), world.group()]
    hooks = [world.launch_hook(group, arn) for group in groups]
    world.messages(url, 2)
    for group in groups:
        world.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)
    bodies = launch_bodies(world.messages(url, 6))
    by_group = {group: [b for b in bodies if b["AutoScalingGroupName"] == group] for group in groups}
    terminated, detached = by_group[groups[0]][0], by_group[groups[1]][0]

    # WHEN one instance of the first group is terminated through EC2 and one is detached from the second
    world.ec2.terminate_instances(InstanceIds=[terminated["EC2InstanceId"]])
    world.asg.detach_instances(
        AutoScalingGroupName=groups[1], InstanceIds=[detached["EC2InstanceId"]], ShouldDecrementDesiredCapacity=True
    )

    # THEN their actions are closed, each with the state it left for
    for body in (terminated, detached):
        _, message, _ = error_of(
            lambda body=body: world.complete(
                body["AutoScalingGroupName"],
                body["LifecycleHookName"],
                LifecycleActionToken=body["LifecycleActionToken"],
            )
        )
        assert message == f"No active Lifecycle Action found with token {body['LifecycleActionToken']}"
    ours = {body["EC2InstanceId"] for body in bodies}
    closed = {
        e.instance_id: e.to_state
        for e in sandbox.lifecycle.events()
        if e.instance_id in ours and e.from_state == "Pending:Wait" and e.cause == "external"
    }
    assert closed == {terminated["EC2InstanceId"]: "Terminated", detached["EC2InstanceId"]: "Detached"}
    # AND every other instance's action is still open and lets it into service
    for group, hook in zip(groups, hooks, strict=True):
        for body in by_group[group][1:]:
            world.complete(group, hook, LifecycleActionToken=body["LifecycleActionToken"])
            assert world.states(group)[body["EC2InstanceId"]] == "InService"
