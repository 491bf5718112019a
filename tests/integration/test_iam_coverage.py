"""The execution role allows every AWS action the handler makes, recorded from the sandbox, and no more."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from cli.cfn_template import evaluate_conditions, load_template, parameter_values
from sandbox import Sandbox
from scenarios import TEAM_TAGS, build_world, create_slot_table
from tests.support.events import scheduled_event
from tests.support.world import Received, context, expected_name, group_instances, scale_out

LONG = 600.0  # no record of this test may run out of time, however slow the machine

# Calls the function makes itself; SQS consume actions are made by Lambda's trigger with the same role.
HANDLER_SERVICES = ("ec2", "autoscaling", "dynamodb")
TRIGGER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}


def allowed_actions() -> list[str]:
    """Every action the role allows with attached tagging on (its widest form)."""
    template = load_template()
    conditions = evaluate_conditions(template, parameter_values(template, {"TagAttached": "true"}))
    role = template["Resources"]["ExecutionRole"]["Properties"]
    actions: list[str] = []
    for policy in role["Policies"]:
        for item in policy["PolicyDocument"]["Statement"]:
            statement = item
            if "Fn::If" in item:
                name, when_true, _ = item["Fn::If"]
                statement = when_true if conditions[name] else {"Effect": "None"}
            if statement["Effect"] == "Allow":
                action = statement["Action"]
                actions.extend(action if isinstance(action, list) else [action])
    return actions


def is_allowed(action: str, allowed: list[str]) -> bool:
    # IAM action names are case-insensitive and may carry wildcards
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in allowed)


def recorded(sandbox: Sandbox, start: int) -> set[str]:
    made = {f"{r.service}:{r.action}" for r in sandbox.journal.records()[start:] if r.service in HANDLER_SERVICES}
    if "dynamodb:TransactWriteItems" in made:  # authorised per item it writes: puts, and deletes on a takeover
        made = (made - {"dynamodb:TransactWriteItems"}) | {"dynamodb:PutItem", "dynamodb:DeleteItem"}
    return made


def test_every_action_the_handler_makes_is_allowed_by_the_execution_role(
    sandbox: Sandbox, world: Any, unique: str, cold_start: Any
) -> None:
    made: set[str] = set()
    # GIVEN a launching instance whose IP does not appear in time: the handler heartbeats and gives it back
    sandbox.controls.set_private_ip_delay(3600)
    received = scale_out(sandbox, world, 1)
    start = len(sandbox.journal.records())
    cold_start(TIME_MARGIN_SECONDS="1", TAG_ATTACHED="true")(received.event(), context(3))
    made |= recorded(sandbox, start)
    # AND the redelivery once the IP is there names it (volumes and ENIs too) and completes the action
    sandbox.controls.set_private_ip_delay(0)
    start = len(sandbox.journal.records())
    response = cold_start(TAG_ATTACHED="true")(received.event(), context(LONG))
    made |= recorded(sandbox, start)
    assert response["batchItemFailures"] == []
    (facts,) = group_instances(sandbox, world).values()
    assert facts["name"] == expected_name(facts["ip"])
    # AND an instance that cannot be named (a tag missing): it is tagged with the reason, the breaker reads the
    # group's recent activities, and once the tag is fixed a redelivery names it and clears the reason
    untagged = build_world(f"iam-{unique}", endpoint_url=sandbox.endpoint_url, tags={"App": "store"})
    abandoned, continued = (Received([m], untagged.queue_arn) for m in scale_out(sandbox, untagged, 2).messages)
    start = len(sandbox.journal.records())
    assert cold_start()(abandoned.event(), context(LONG))["batchItemFailures"] == []
    assert cold_start(FAILURE_RESULT="CONTINUE")(continued.event(), context(LONG))["batchItemFailures"] == []
    made |= recorded(sandbox, start)
    (instance_id,) = [i for i, f in group_instances(sandbox, untagged).items() if f["state"] == "InService"]
    sandbox.client("ec2").create_tags(
        Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in TEAM_TAGS.items() if k != "App"]
    )
    start = len(sandbox.journal.records())
    cold_start()(continued.event(), context(LONG))
    made |= recorded(sandbox, start)
    # AND a group whose template numbers its instances ({slot}): the number is claimed in the slot table
    table = create_slot_table(f"slots-{unique}", sandbox.endpoint_url)
    metadata = json.dumps({"asg-namer:name-template": "{tag:App}-{slot:2}"})
    numbered = build_world(f"iam-slot-{unique}", endpoint_url=sandbox.endpoint_url, notification_metadata=metadata)
    launch = scale_out(sandbox, numbered, 1)
    start = len(sandbox.journal.records())
    assert cold_start(SLOT_TABLE=table)(launch.event(), context(LONG))["batchItemFailures"] == []
    made |= recorded(sandbox, start)
    ((first, facts),) = group_instances(sandbox, numbered).items()
    assert facts["name"] == "store-01"
    # AND once that instance is gone, the next launch takes its number over (the transaction deletes the old
    # holder's item: so PutItem and DeleteItem are both exercised)
    sandbox.client("ec2").terminate_instances(InstanceIds=[first])
    launch = scale_out(sandbox, numbered, 2)
    start = len(sandbox.journal.records())
    assert cold_start(SLOT_TABLE=table)(launch.event(), context(LONG))["batchItemFailures"] == []
    made |= recorded(sandbox, start)
    names = sorted(f["name"] for f in group_instances(sandbox, numbered).values() if f["state"] == "InService")
    assert names == ["store-01", "store-02"]
    # AND the scheduled sweep over the served groups (one with a warm pool)
    sandbox.client("autoscaling").put_warm_pool(AutoScalingGroupName=world.asg_name, MinSize=0)
    start = len(sandbox.journal.records())
    summary = cold_start(QUEUE_ARN=world.queue_arn)(scheduled_event(), context(LONG))
    made |= recorded(sandbox, start)
    assert summary["groups"] == 1
    # WHEN the recorded actions are compared with the template's execution role
    allowed = allowed_actions()
    # THEN the scenario exercised every path that calls AWS, and each call is allowed
    assert made >= {
        "ec2:DescribeInstances",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
        "autoscaling:DescribeLifecycleHooks",
        "autoscaling:DescribeScalingActivities",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeWarmPool",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    }
    assert [action for action in sorted(made) if not is_allowed(action, allowed)] == []
    # AND the role grants nothing the handler or its trigger does not use
    assert set(allowed) == made | TRIGGER_ACTIONS | {"logs:CreateLogStream", "logs:PutLogEvents"}
