"""``asg-namer deploy`` end to end against the sandbox's CloudFormation (moto), over HTTP."""

from __future__ import annotations

import base64
import datetime
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cli import package
from cli.common import Aws
from cli.deploy import CODE_PREFIX, Deployer
from cli.main import main
from sandbox import Sandbox
from sandbox.server import ACCOUNT_ID
from tests.support.accounts import as_account
from tests.support.cli import hook_clients

OTHER_ACCOUNT = "111111111111"

# Types the sandbox's CloudFormation (moto 5.2.5) skips silently; deploy must name each one it did not create.
SKIPPED_BY_SANDBOX = {"AWS::SQS::QueuePolicy", "AWS::CloudWatch::Alarm", "AWS::AutoScaling::LifecycleHook"}


def deploy(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["deploy", "--poll", "0.2", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def build() -> package.Artifact:
    """The artifact deploy builds (deterministic: the same bytes every time)."""
    return package.build()


def code_key(artifact: package.Artifact) -> str:
    return f"{CODE_PREFIX}/lambda-{artifact.sha256[:32]}.zip"


def sha256_b64(artifact: package.Artifact) -> str:
    """The form S3's ChecksumSHA256 and Lambda's CodeSha256 take: base64 of the digest."""
    return base64.b64encode(bytes.fromhex(artifact.sha256)).decode()


def function_code_sha256(sandbox: Sandbox, stack: str) -> str:
    (described,) = sandbox.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    name = next(o["OutputValue"] for o in described["Outputs"] if o["OutputKey"] == "FunctionName")
    return str(sandbox.client("lambda").get_function(FunctionName=name)["Configuration"]["CodeSha256"])


def stack_exists(sandbox: Sandbox, stack: str) -> bool:
    try:
        sandbox.client("cloudformation").describe_stacks(StackName=stack)
    except ClientError:
        return False
    return True


def test_deploy_creates_the_stack_prints_outputs_and_names_what_the_sandbox_skipped(
    sandbox: Sandbox, unique: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = f"dep-{unique}"
    bucket = f"artifacts-{unique}"
    s3_calls: list[tuple[str, bool]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        s3_calls.append((model.name, "ExpectedBucketOwner" in params))

    hook_clients(monkeypatch, {"provide-client-params.s3.*": record})
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
    # AND every S3 call named this account as the bucket's expected owner (CreateBucket has no such parameter)
    assert {name for name, _ in s3_calls} >= {"HeadBucket", "CreateBucket", "PutPublicAccessBlock", "HeadObject"}
    assert [name for name, expected in s3_calls if not expected] == ["CreateBucket"]


def test_a_second_deploy_of_the_same_source_reports_no_changes(
    sandbox: Sandbox, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = f"dep-{unique}"
    bucket = f"artifacts-{unique}"
    deploy(capsys, "--stack", stack, "--bucket", bucket, "--create-bucket")
    # WHEN deployed again unchanged
    _, out, _ = deploy(capsys, "--stack", stack, "--bucket", bucket)
    # THEN nothing is uploaded again (the object's SHA-256 is the build's), nothing changes, the outputs are printed
    assert "already uploaded (SHA-256 verified)" in out
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


@pytest.mark.parametrize("name", ["CodeBucket", "CodeKey"])
def test_the_code_location_cannot_be_given_as_a_parameter(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    # WHEN the operator points the stack at an object deploy did not verify THEN it is a usage error
    code, _, err = deploy(capsys, "--stack", "never", "--param", f"{name}=elsewhere")
    assert code == 2
    assert name in err and "--bucket" in err


@pytest.fixture
def squatted_default_bucket(sandbox: Sandbox, build: package.Artifact) -> Iterator[str]:
    """asg-namer-artifacts-ACCOUNT-REGION created first by another account, with a zip planted at the key
    deploy derives from the build; removed afterwards (bucket names are global to the session)."""
    other = as_account(sandbox.client("s3"), OTHER_ACCOUNT)
    bucket = f"asg-namer-artifacts-{ACCOUNT_ID}-{os.environ['AWS_DEFAULT_REGION']}"
    other.create_bucket(Bucket=bucket)
    other.put_object(Bucket=bucket, Key=code_key(build), Body=b"planted: runs with the execution role")
    yield bucket
    other.delete_object(Bucket=bucket, Key=code_key(build))
    other.delete_bucket(Bucket=bucket)


def test_deploy_refuses_the_default_bucket_when_another_account_owns_it(
    sandbox: Sandbox, unique: str, capsys: pytest.CaptureFixture[str], squatted_default_bucket: str
) -> None:
    # WHEN deploying with the derived bucket name, which someone else registered first
    stack = f"dep-{unique}"
    code, out, err = deploy(capsys, "--stack", stack)
    # THEN it refuses with one line that says what to do (exit 1), and nothing was deployed or written
    assert code == 1
    assert err.count("\n") == 1
    assert f"bucket {squatted_default_bucket} is not owned by account {ACCOUNT_ID}" in err
    assert "--bucket" in err
    assert not stack_exists(sandbox, stack)
    assert "uploaded" not in out


def test_deploy_refuses_a_bucket_another_account_creates_just_before_it(
    sandbox: Sandbox, unique: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a bucket name nobody owns yet, which another account registers between deploy's check and its create
    bucket = f"raced-{unique}"
    other = as_account(sandbox.client("s3"), OTHER_ACCOUNT)

    def register_first(**_: Any) -> None:  # a before-call handler's return value would replace the call's answer
        other.create_bucket(Bucket=bucket)

    hook_clients(monkeypatch, {"before-call.s3.CreateBucket": register_first})
    stack = f"dep-{unique}"
    # WHEN deploying with --create-bucket
    code, _, err = deploy(capsys, "--stack", stack, "--bucket", bucket, "--create-bucket")
    # THEN it refuses in one line and deploys nothing
    assert code == 1 and err.count("\n") == 1
    assert f"bucket {bucket} is not owned by account {ACCOUNT_ID}" in err
    assert not stack_exists(sandbox, stack)


def test_deploy_replaces_an_object_whose_checksum_is_not_the_builds(
    sandbox: Sandbox, unique: str, capsys: pytest.CaptureFixture[str], build: package.Artifact
) -> None:
    # GIVEN the account's own bucket holding other bytes under the build's key (a partial upload, a tamper)
    s3 = sandbox.client("s3")
    bucket = f"artifacts-{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=code_key(build), Body=b"not the build")
    stack = f"dep-{unique}"
    # WHEN deploying
    _, out, _ = deploy(capsys, "--stack", stack, "--bucket", bucket)
    # THEN it says the object differs and replaces it; S3 now holds the build, verified by its SHA-256
    assert f"s3://{bucket}/{code_key(build)} differs from this build" in out and "replacing it" in out
    head = s3.head_object(Bucket=bucket, Key=code_key(build), ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256_b64(build)
    # AND the function runs exactly the build
    assert function_code_sha256(sandbox, stack) == sha256_b64(build)


def test_deploy_fails_when_the_function_does_not_run_the_verified_build(
    sandbox: Sandbox,
    unique: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    build: package.Artifact,
) -> None:
    # GIVEN someone with write access to the bucket who swaps the object after deploy verified it
    s3 = sandbox.client("s3")
    bucket = f"artifacts-{unique}"

    def swap(**_: Any) -> None:
        s3.put_object(Bucket=bucket, Key=code_key(build), Body=b"swapped")

    hook_clients(monkeypatch, {"before-call.cloudformation.CreateChangeSet": swap})
    stack = f"dep-{unique}"
    # WHEN deploying
    code, _, err = deploy(capsys, "--stack", stack, "--bucket", bucket, "--create-bucket")
    # THEN it reports, in one line, that the function does not run this build (exit 1)
    assert code == 1 and err.count("\n") == 1
    assert "does not run this build" in err and sha256_b64(build) in err


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
