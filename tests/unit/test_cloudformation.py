"""Invariants of infra/cloudformation.yaml, read as CloudFormation reads it (short-form tags understood)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.cfn_template import active_resources, evaluate_conditions, load_template, parameter_values
from handler.config import NAME_TAG_KEY_PATTERN, VARIABLES, ConfigError, load_settings
from handler.fleet import SLOT_TABLE_ATTRIBUTES, SLOT_TABLE_KEY_SCHEMA
from handler.observability import DEFAULT_NAMESPACE, DEFAULT_SERVICE, Metric

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
# Largest receive-to-end of one delivery: the batching window the parameters allow plus the function's timeout.
MAX_BATCHING_WINDOW = PARAMETERS["BatchingWindowSeconds"]["MaxValue"]


def props(logical_id: str) -> dict[str, Any]:
    return RESOURCES[logical_id]["Properties"]


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def dashboard_widgets() -> list[dict[str, Any]]:
    body = props("Dashboard")["DashboardBody"]["Fn::Sub"]
    # ${...} placeholders sit inside JSON strings; any stand-in keeps the JSON valid
    return json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]


def statements(role: str, **given: str) -> list[dict[str, Any]]:
    """The role's statements for these parameter values (Fn::If resolved, AWS::NoValue dropped)."""
    conditions = evaluate_conditions(TEMPLATE, parameter_values(TEMPLATE, given))
    return [
        statement
        for policy in props(role)["Policies"]
        for item in policy["PolicyDocument"]["Statement"]
        if (statement := _resolve(item, conditions)) is not None
    ]


def queue_policy_statements(**given: str) -> list[dict[str, Any]]:
    conditions = evaluate_conditions(TEMPLATE, parameter_values(TEMPLATE, given))
    return [
        statement
        for item in props("QueuePolicy")["PolicyDocument"]["Statement"]
        if (statement := _resolve(item, conditions)) is not None
    ]


def _resolve(item: Any, conditions: dict[str, bool]) -> Any:
    if isinstance(item, dict) and set(item) == {"Fn::If"}:
        name, when_true, when_false = item["Fn::If"]
        chosen = when_true if conditions[name] else when_false
        return None if chosen == {"Ref": "AWS::NoValue"} else _resolve(chosen, conditions)
    return item


def test_visibility_timeout_is_at_least_six_function_timeouts() -> None:
    # GIVEN the function and its queue WHEN compared THEN AWS's 6x advice holds
    assert props("Queue")["VisibilityTimeout"] >= 6 * props("Function")["Timeout"]


def test_heartbeats_keep_the_action_alive_until_the_next_delivery_has_run() -> None:
    """maxReceiveCount x VisibilityTimeout (30 min) is longer than any allowed heartbeat timeout's minimum; the gap
    is covered by heartbeats, not by the timeout: when the handler gives a record back to SQS it records a
    heartbeat, which restarts HeartbeatTimeout. The next delivery comes VisibilityTimeout after the receive, may
    wait a batching window, and runs up to the function's Timeout: the smallest allowed HeartbeatTimeout covers
    that whole span, so each redelivery meets a live action; and the hook's global timeout
    (min(48 h, 100 x HeartbeatTimeout)) outlasts every redelivery."""
    visibility = props("Queue")["VisibilityTimeout"]
    timeout = props("Function")["Timeout"]
    receives = props("Queue")["RedrivePolicy"]["maxReceiveCount"]
    heartbeat = PARAMETERS["HookHeartbeatTimeout"]
    assert heartbeat["MinValue"] >= visibility + MAX_BATCHING_WINDOW + timeout
    assert heartbeat["MinValue"] <= heartbeat["Default"] <= heartbeat["MaxValue"] <= 7200
    assert min(48 * 3600, 100 * heartbeat["MinValue"]) >= receives * visibility
    assert receives >= 5


def test_dead_letter_queue_keeps_messages_longer_than_the_source_queue() -> None:
    dlq, queue = props("DeadLetterQueue"), props("Queue")
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["MessageRetentionPeriod"] < dlq["MessageRetentionPeriod"]
    assert dlq["RedriveAllowPolicy"]["redrivePermission"] == "byQueue"
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    # the allow-list names the source queue by the same name the queue is given
    source = dlq["RedriveAllowPolicy"]["sourceQueueArns"][0]["Fn::Sub"]
    assert source.endswith(":" + queue["QueueName"]["Fn::Sub"])


def test_both_queues_are_encrypted_and_deny_insecure_transport() -> None:
    for queue in ("Queue", "DeadLetterQueue"):
        assert props(queue)["SqsManagedSseEnabled"] is True
    policies = {p["Properties"]["Queues"][0]["Ref"]: p["Properties"] for p in of_type("AWS::SQS::QueuePolicy").values()}
    assert set(policies) == {"Queue", "DeadLetterQueue"}
    for queue, policy in policies.items():
        deny = policy["PolicyDocument"]["Statement"][0]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}


def test_the_launch_successful_rule_is_allowed_to_send_only_when_it_exists() -> None:
    rule = RESOURCES["LaunchSuccessfulRule"]
    assert rule["Condition"] == "HasLaunchSuccessfulRule"
    assert rule["Properties"]["EventPattern"]["detail-type"] == ["EC2 Instance Launch Successful"]
    without = {s["Sid"]: s for s in queue_policy_statements()}
    assert "AllowLaunchSuccessfulRule" not in without
    allow = {s["Sid"]: s for s in queue_policy_statements(LaunchSuccessfulGroupNames="web")}[
        "AllowLaunchSuccessfulRule"
    ]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["LaunchSuccessfulRule", "Arn"]}


@pytest.mark.parametrize(
    "parameters", [{}, {"LaunchSuccessfulGroupNames": "web"}, {"QueueSenderArns": "arn:aws:iam::1:role/ops"}]
)
def test_only_the_hook_role_the_stacks_rule_and_named_principals_may_send_to_the_queue(
    parameters: dict[str, str],
) -> None:
    # GIVEN the queue policy for these parameters
    deny = {s["Sid"]: s for s in queue_policy_statements(**parameters)}["OnlyKnownSenders"]
    # THEN every other principal is denied SendMessage: nobody can forge a lifecycle message
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sqs:SendMessage")
    conditions = evaluate_conditions(TEMPLATE, parameter_values(TEMPLATE, parameters))
    exempt = _resolve(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"], conditions)
    hook_role = {"Fn::GetAtt": ["HookRole", "Arn"]}
    if "QueueSenderArns" in parameters:
        joined = exempt["Fn::Split"][1]["Fn::Join"][1]
        assert joined == [hook_role, {"Fn::Join": [",", {"Ref": "QueueSenderArns"}]}]
    else:
        assert exempt == [hook_role]
    rule = deny["Condition"]["ArnNotEquals"].get("aws:SourceArn")
    expected_rule = (
        {"Fn::GetAtt": ["LaunchSuccessfulRule", "Arn"]} if "LaunchSuccessfulGroupNames" in parameters else None
    )
    assert rule == expected_rule


@pytest.mark.parametrize(
    ("given", "hook", "rule", "topic"),
    [
        ({}, False, False, False),
        ({"AutoScalingGroupName": "web"}, True, False, False),
        ({"LaunchSuccessfulGroupNames": "web-a,web-b"}, False, True, False),
        ({"AlarmEmail": "ops@example.com"}, False, False, True),
        ({"AlarmEmail": "ops@example.com", "AlarmTopicArn": "arn:aws:sns:us-east-1:1:t"}, False, False, False),
    ],
)
def test_optional_resources_follow_their_parameters(given, hook, rule, topic) -> None:
    # GIVEN parameters WHEN the conditions are evaluated THEN only the asked-for optional resources exist
    created = active_resources(TEMPLATE, {"CodeBucket": "b", "CodeKey": "k", **given})
    assert ("LaunchHook" in created) is hook
    assert ("LaunchSuccessfulRule" in created) is rule
    assert ("AlarmTopic" in created) is topic


def test_the_hook_targets_the_queue_with_the_publishing_role() -> None:
    hook = props("LaunchHook")
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert hook["NotificationTargetARN"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert hook["RoleARN"] == {"Fn::GetAtt": ["HookRole", "Arn"]}
    assert hook["HeartbeatTimeout"] == {"Ref": "HookHeartbeatTimeout"}
    assert hook["DefaultResult"] == {"Ref": "HookDefaultResult"}
    (publish,) = statements("HookRole")
    assert sorted(publish["Action"]) == ["sqs:GetQueueUrl", "sqs:SendMessage"]
    assert publish["Resource"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert props("HookRole")["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "autoscaling.amazonaws.com"
    }


def test_function_and_trigger_settings() -> None:
    function = props("Function")
    assert function["Runtime"] == "python3.13"
    assert function["Handler"] == "handler.app.lambda_handler"
    assert PARAMETERS["Architecture"]["Default"] == "arm64"
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "LogGroup"}
    assert props("LogGroup")["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    mapping = props("EventSourceMapping")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "MaximumConcurrency"}
    assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": "BatchingWindowSeconds"}
    assert PARAMETERS["MaximumConcurrency"]["MinValue"] >= 2
    assert PARAMETERS["BatchSize"]["MaxValue"] <= 10  # above 10 AWS requires a batching window


def test_every_environment_variable_is_one_the_handler_reads() -> None:
    variables = props("Function")["Environment"]["Variables"]
    known = {v.name for v in VARIABLES}
    assert set(variables) <= known
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == DEFAULT_NAMESPACE
    assert variables["POWERTOOLS_SERVICE_NAME"] == DEFAULT_SERVICE
    for name, parameter in {
        "NAME_TEMPLATE": "NameTemplate",
        "NAME_TAG_KEY": "NameTagKey",
        "FAILURE_RESULT": "FailureResult",
        "ABANDON_BREAKER": "AbandonBreaker",
        "INVALID_CHARS": "InvalidChars",
        "HOSTNAME_SAFE": "HostnameSafe",
        "ON_COLLISION": "OnCollision",
        "SWEEP_FIX_DRIFT": "SweepFixDrift",
        "SWEEP_STUCK_AFTER_SECONDS": "SweepStuckAfterSeconds",
        "TAG_ATTACHED": "TagAttached",
    }.items():
        assert variables[name] == {"Ref": parameter}


def test_parameter_defaults_are_values_the_handler_accepts() -> None:
    defaults = {v.name: v.default for v in VARIABLES}
    assert PARAMETERS["NameTagKey"]["Default"] == defaults["NAME_TAG_KEY"]
    assert PARAMETERS["FailureResult"]["Default"] == defaults["FAILURE_RESULT"]
    assert PARAMETERS["TagAttached"]["Default"] == defaults["TAG_ATTACHED"]
    assert str(PARAMETERS["AbandonBreaker"]["Default"]) == defaults["ABANDON_BREAKER"]
    assert PARAMETERS["InvalidChars"]["Default"] == defaults["INVALID_CHARS"]
    assert PARAMETERS["HostnameSafe"]["Default"] == defaults["HOSTNAME_SAFE"]
    assert PARAMETERS["OnCollision"]["Default"] == defaults["ON_COLLISION"]
    assert PARAMETERS["NameTemplate"]["Default"] == ""  # empty = the handler's default template


@pytest.mark.parametrize("attached", ["false", "true"])
def test_the_role_tags_only_instances_a_group_launched_and_only_its_two_keys(attached: str) -> None:
    by_sid = {s["Sid"]: s for s in statements("ExecutionRole", TagAttached=attached)}
    # GIVEN the statement that lets the function tag instances
    tag = by_sid["TagOnlyInstancesAutoScalingLaunched"]
    assert tag["Action"] == "ec2:CreateTags" and tag["Resource"]["Fn::Sub"].endswith(":instance/*")
    # THEN only the name and the failure reason may be written, and only on instances carrying the group tag
    assert tag["Condition"]["ForAllValues:StringEquals"] == {
        "aws:TagKeys": [{"Ref": "NameTagKey"}, "asg-namer:naming-failed"]
    }
    assert tag["Condition"]["Null"] == {"aws:ResourceTag/aws:autoscaling:groupName": "false"}
    clear = by_sid["ClearTheFailureTag"]
    assert clear["Action"] == "ec2:DeleteTags"
    assert clear["Condition"]["ForAllValues:StringEquals"] == {"aws:TagKeys": ["asg-namer:naming-failed"]}
    assert clear["Condition"]["Null"] == tag["Condition"]["Null"]
    # AND volumes and interfaces only when attached tagging is on, with the name only
    attached_statement = by_sid.get("NameAttachedVolumesAndInterfaces")
    assert (attached_statement is not None) is (attached == "true")
    if attached_statement is not None:
        assert [r["Fn::Sub"].rsplit(":", 1)[1] for r in attached_statement["Resource"]] == [
            "volume/*",
            "network-interface/*",
        ]
        assert attached_statement["Condition"] == {
            "ForAllValues:StringEquals": {"aws:TagKeys": [{"Ref": "NameTagKey"}]}
        }


def test_execution_role_grants_nothing_beyond_its_statements_scopes() -> None:
    by_sid = {s["Sid"]: s for s in statements("ExecutionRole", TagAttached="true")}
    unscoped = {
        "DescribeInstances",
        "ReadGroupsHooksAndActivities",
    }  # Describe* actions have no resource-level permissions
    for sid in unscoped:
        assert by_sid[sid]["Resource"] == "*"
        actions = by_sid[sid]["Action"] if isinstance(by_sid[sid]["Action"], list) else [by_sid[sid]["Action"]]
        assert all(action.split(":")[1].startswith("Describe") for action in actions)
    assert ":autoScalingGroup:" in by_sid["CompleteLaunchActions"]["Resource"]["Fn::Sub"]
    assert by_sid["ConsumeTheQueue"]["Resource"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert by_sid["WriteOwnLogs"]["Resource"] == {"Fn::GetAtt": ["LogGroup", "Arn"]}
    for statement in by_sid.values():
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any("*" in action for action in actions)
        if statement["Sid"] not in unscoped:
            assert statement["Resource"] != "*"


def test_the_name_tag_key_rule_is_the_functions_rule() -> None:
    # GIVEN the stack's parameter rule and the function's cold-start rule
    pattern = PARAMETERS["NameTagKey"]["AllowedPattern"]
    # THEN they are one rule: the stack cannot deploy a key the function then refuses at every cold start
    assert pattern == NAME_TAG_KEY_PATTERN
    assert re.fullmatch(pattern, "AWS:Name") is None  # case: the old pattern let this through


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=140) | st.sampled_from(["aws:x", "AwS:y", "Name", ""]))
def test_the_stack_accepts_exactly_the_keys_the_function_accepts(key: str) -> None:
    accepted_by_stack = re.fullmatch(PARAMETERS["NameTagKey"]["AllowedPattern"], key) is not None and (
        PARAMETERS["NameTagKey"]["MinLength"] <= len(key) <= PARAMETERS["NameTagKey"]["MaxLength"]
    )
    try:
        load_settings({"NAME_TAG_KEY": key}) if key else load_settings({"NAME_TAG_KEY": "x"})
        accepted_by_function = bool(key)
    except ConfigError:
        accepted_by_function = False
    assert accepted_by_stack == accepted_by_function


def _namer_metrics(metrics: list[Any]) -> list[str]:
    """Metric names under the handler's namespace, each checked to carry the service dimension."""
    names = []
    previous: list[Any] = []
    for line in metrics:
        row = [item for item in line if not isinstance(item, dict)]
        # "..." repeats the previous row's value in CloudWatch's shorthand
        row = [previous[i] if item == "..." else item for i, item in enumerate(row)]
        previous = row
        if row[0] == DEFAULT_NAMESPACE:
            assert row[2:4] == ["service", DEFAULT_SERVICE], row
            names.append(row[1])
    return names


def test_every_dashboard_metric_of_the_handler_is_one_it_emits() -> None:
    referenced = [name for w in dashboard_widgets() for name in _namer_metrics(w["properties"]["metrics"])]
    members = {m.value for m in Metric}
    assert referenced
    assert set(referenced) <= members
    # AND every metric the handler emits is on the dashboard
    assert members <= set(referenced)
    # AND the queue and Lambda metrics sit beside them
    namespaces = {line[0] for w in dashboard_widgets() for line in w["properties"]["metrics"]}
    assert {"AWS/SQS", "AWS/Lambda", DEFAULT_NAMESPACE} <= namespaces


def _watched(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm reads: its own, or those of its metric-math expression."""
    if "Metrics" in alarm:
        return [query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query]
    return [{k: alarm[k] for k in ("Namespace", "MetricName", "Dimensions")}]


def test_every_alarm_on_a_handler_metric_uses_a_metric_it_emits() -> None:
    members = {m.value for m in Metric}
    alarms = of_type("AWS::CloudWatch::Alarm")
    watched_metrics = [metric for a in alarms.values() for metric in _watched(a["Properties"])]
    on_namer = [metric for metric in watched_metrics if metric["Namespace"] == DEFAULT_NAMESPACE]
    assert on_namer
    for metric in on_namer:
        assert metric["MetricName"] in members
        assert metric["Dimensions"] == [{"Name": "service", "Value": DEFAULT_SERVICE}]
    watched = {(metric["Namespace"], metric["MetricName"]) for metric in watched_metrics}
    assert watched == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        (DEFAULT_NAMESPACE, Metric.NAMING_FAILED.value),
        (DEFAULT_NAMESPACE, Metric.REJECTED_MESSAGES.value),
        (DEFAULT_NAMESPACE, Metric.NAMING_CIRCUIT_OPEN.value),
        (DEFAULT_NAMESPACE, Metric.SWEEP_INSTANCES_NAMED.value),
        (DEFAULT_NAMESPACE, Metric.SWEEP_ACTIONS_RELEASED.value),
    }
    # AND the sweep's alarm fires when it had to act at all: events are being missed
    acted = props("SweepActedAlarm")
    assert acted["Metrics"][0]["Expression"] == "named + released" and acted["Threshold"] == 0
    dlq_alarm = props("DeadLetterQueueAlarm")
    assert dlq_alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}


def test_alarms_notify_the_given_topic_or_the_created_one() -> None:
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        actions = alarm["Properties"]["AlarmActions"]["Fn::If"]
        assert actions[0] == "HasAlarmTarget"
        assert actions[1] == [{"Fn::If": ["HasTopicArn", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}]
        assert actions[2] == {"Ref": "AWS::NoValue"}


def test_outputs_other_stacks_need_are_exported() -> None:
    outputs = TEMPLATE["Outputs"]
    for name in ("QueueArn", "HookRoleArn", "DeadLetterQueueUrl", "DashboardUrl"):
        assert outputs[name]["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}


def test_the_slot_table_is_the_one_the_code_uses_on_demand_recoverable_and_encrypted() -> None:
    table = props("SlotTable")
    assert table["KeySchema"] == list(SLOT_TABLE_KEY_SCHEMA)
    assert table["AttributeDefinitions"] == list(SLOT_TABLE_ATTRIBUTES)
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert props("Function")["Environment"]["Variables"]["SLOT_TABLE"] == {"Ref": "SlotTable"}
    # AND the role reaches that table only, with the calls a claim needs
    claim = {s["Sid"]: s for s in statements("ExecutionRole")}["ClaimSlotNumbers"]
    assert claim["Resource"] == {"Fn::GetAtt": ["SlotTable", "Arn"]}
    assert sorted(claim["Action"]) == ["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query"]


@pytest.mark.parametrize(("minutes", "expression"), [("10", "rate(10 minutes)"), ("1", "rate(1 minute)"), ("0", None)])
def test_the_sweep_runs_the_same_function_on_a_schedule_unless_turned_off(minutes: str, expression: str | None) -> None:
    created = active_resources(TEMPLATE, {"CodeBucket": "b", "CodeKey": "k", "SweepIntervalMinutes": minutes})
    assert ("SweepSchedule" in created) is (expression is not None)
    assert ("SweepPermission" in created) is (expression is not None)
    if expression is None:
        return
    conditions = evaluate_conditions(TEMPLATE, parameter_values(TEMPLATE, {"SweepIntervalMinutes": minutes}))
    schedule = _resolve(props("SweepSchedule")["ScheduleExpression"], conditions)
    rendered = (
        schedule if isinstance(schedule, str) else schedule["Fn::Sub"].replace("${SweepIntervalMinutes}", minutes)
    )
    assert rendered == expression
    (target,) = props("SweepSchedule")["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["Function", "Arn"]} and "Input" not in target  # AWS's Scheduled Event
    permission = props("SweepPermission")
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["SweepSchedule", "Arn"]}
    variables = props("Function")["Environment"]["Variables"]
    assert variables["QUEUE_ARN"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert variables["SWEEP_GROUPS"] == {"Fn::Join": [",", {"Ref": "LaunchSuccessfulGroupNames"}]}
