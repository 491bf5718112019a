"""The execution role allows every AWS action the handler makes, recorded from the sandbox, and no more."""

from __future__ import annotations

import fnmatch
from typing import Any

from cli.cfn_template import load_template
from sandbox import Sandbox
from tests.support.world import context, expected_name, group_instances, scale_out

# Calls the function makes itself; SQS consume actions are made by Lambda's trigger with the same role.
HANDLER_SERVICES = ("ec2", "autoscaling")
TRIGGER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}


def allowed_actions() -> list[str]:
    role = load_template()["Resources"]["ExecutionRole"]["Properties"]
    actions: list[str] = []
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                action = statement["Action"]
                actions.extend(action if isinstance(action, list) else [action])
    return actions


def is_allowed(action: str, allowed: list[str]) -> bool:
    # IAM action names are case-insensitive and may carry wildcards
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in allowed)


def recorded(sandbox: Sandbox, start: int) -> set[str]:
    return {f"{r.service}:{r.action}" for r in sandbox.journal.records()[start:] if r.service in HANDLER_SERVICES}


def test_every_action_the_handler_makes_is_allowed_by_the_execution_role(
    sandbox: Sandbox, world: Any, cold_start: Any
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
    response = cold_start(TAG_ATTACHED="true")(received.event(), context(30))
    made |= recorded(sandbox, start)
    assert response["batchItemFailures"] == []
    (facts,) = group_instances(sandbox, world).values()
    assert facts["name"] == expected_name(facts["ip"])
    # WHEN the recorded actions are compared with the template's execution role
    allowed = allowed_actions()
    # THEN the scenario exercised every path that calls AWS, and each call is allowed
    assert made >= {
        "ec2:DescribeInstances",
        "ec2:CreateTags",
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
    }
    assert [action for action in sorted(made) if not is_allowed(action, allowed)] == []
    # AND the role grants nothing the handler or its trigger does not use
    assert set(allowed) == made | TRIGGER_ACTIONS | {"logs:CreateLogStream", "logs:PutLogEvents"}
