"""``asg-namer deploy`` end to end against the sandbox's CloudFormation (moto), over HTTP."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest

from cli.common import Aws
from cli.deploy import Deployer
from cli.main import main
from sandbox import Sandbox

# Types the sandbox's CloudFormation (moto 5.2.5) skips silently; deploy must name each one it did not create.
SKIPPED_BY_SANDBOX = {"AWS::SQS::QueuePolicy", "AWS::CloudWatch::Alarm", "AWS::AutoScaling::LifecycleHook"}


def deploy(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["deploy", "--poll", "0.2", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_deploy_creates_the_stack_prints_outputs_and_names_what_the_sandbox_skipped(
    sandbox: Sandbox, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = f"dep-{unique}"
    bucket = f"artifacts-{unique}"
    # WHEN deployed to a fresh account with a bucket created on request
    code, out, err = deploy(capsys, "--stack", stack, "--bucket", bucket, "--create-bucket")
    # THEN the artifact was uploaded under its hash and the stack created through a change set
    cfn = sandbox.client("cloudformation")
    (described,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    params = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    assert params["CodeBucket"] == bucket
    head = sandbox.client("s3").head_object(Bucket=bucket, Key=params["CodeKey"])
    assert head["ContentLength"] > 100_000
    assert sandbox.journal.count("cloudformation", "CreateChangeSet") >= 1
    assert sandbox.journal.count("cloudformation", "ExecuteChangeSet") >= 1
    # AND the outputs are printed, with the next step
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    for key in ("QueueArn", "HookRoleArn", "DeadLetterQueueUrl", "DashboardUrl"):
        assert f"{key} = {outputs[key]}" in out
    assert f"asg-namer attach --asg GROUP --stack {stack}" in out
    # AND the created resources are real: the queue redrives to the DLQ and the function runs python3.13
    sqs = sandbox.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "360"
    function = sandbox.client("lambda").get_function(FunctionName=outputs["FunctionName"])["Configuration"]
    assert function["Runtime"] == "python3.13"
    assert function["Handler"] == "handler.app.lambda_handler"
    # AND every resource the sandbox did not create is named, never silently missing (exit 1: incomplete)
    listed = {r.get("LogicalResourceId") for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]}
    missing = ["QueuePolicy", "DeadLetterQueuePolicy", "DeadLetterQueueAlarm", "NamingFailedAlarm"]
    for logical_id in missing:
        assert logical_id not in listed
        assert logical_id in err
    assert "Queue (AWS::SQS::Queue)" not in err
    assert set(re.findall(r"\((AWS::[\w:]+)\)", err)) <= SKIPPED_BY_SANDBOX
    assert code == 1


def test_a_second_deploy_of_the_same_source_reports_no_changes(
    sandbox: Sandbox, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = f"dep-{unique}"
    bucket = f"artifacts-{unique}"
    deploy(capsys, "--stack", stack, "--bucket", bucket, "--create-bucket")
    # WHEN deployed again unchanged
    _, out, _ = deploy(capsys, "--stack", stack, "--bucket", bucket)
    # THEN nothing is uploaded again, nothing changes and the outputs are printed still
    assert "already uploaded" in out
    assert f"stack {stack}: no changes" in out
    assert "QueueArn = " in out


def test_an_update_keeps_previous_parameters_and_changes_the_given_ones(
    sandbox: Sandbox, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = f"dep-{unique}"
    bucket = f"artifacts-{unique}"
    deploy(capsys, "--stack", stack, "--bucket", bucket, "--create-bucket", "--param", "NameTagKey=Hostname")
    # WHEN updated with another parameter and a group for the hook
    code, out, err = deploy(capsys, "--stack", stack, "--bucket", bucket, "--param", "FailureResult=CONTINUE")
    # THEN the new value is in and the earlier one kept
    (described,) = sandbox.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    assert params["FailureResult"] == "CONTINUE"
    assert params["NameTagKey"] == "Hostname"
    assert "UPDATE_COMPLETE" in out


def test_a_missing_bucket_without_create_bucket_says_what_to_do(
    sandbox: Sandbox, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = deploy(capsys, "--stack", f"dep-{unique}", "--bucket", f"absent-{unique}")
    assert code == 1
    assert "--create-bucket" in err


def test_an_unknown_parameter_is_a_usage_error(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = deploy(capsys, "--stack", "never", "--param", "NoSuchThing=1")
    assert code == 2
    assert "NoSuchThing" in err


class _FailingCloudFormation:
    """CloudFormation's answers for a creation that rolled back (moto never fails a stack)."""

    def __init__(self) -> None:
        self.now = datetime.datetime.now(datetime.UTC)

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_stack_events"
        events = [
            self._event("st", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", None),
            self._event("Function", "AWS::Lambda::Function", "CREATE_FAILED", "Resource creation cancelled"),
            self._event("LaunchHook", "AWS::AutoScaling::LifecycleHook", "CREATE_FAILED", "Group web not found"),
        ]
        return type("P", (), {"paginate": lambda self, **_: [{"StackEvents": events}]})()

    def _event(self, logical_id: str, kind: str, status: str, reason: str | None) -> dict[str, Any]:
        event = {"LogicalResourceId": logical_id, "ResourceType": kind, "ResourceStatus": status}
        event["Timestamp"] = self.now
        if reason:
            event["ResourceStatusReason"] = reason
        return event


def test_a_failed_stack_names_each_failing_resource_with_its_reason(sandbox: Sandbox) -> None:
    deployer = Deployer(Aws(region="us-east-1"), "st")
    deployer.cfn = _FailingCloudFormation()
    reasons = deployer.failure_reasons(since=deployer.cfn.now.timestamp())
    assert reasons == [
        "LaunchHook (AWS::AutoScaling::LifecycleHook) CREATE_FAILED: Group web not found",
        "Function (AWS::Lambda::Function) CREATE_FAILED: Resource creation cancelled",
    ]
