"""``asg-namer deploy``: package the function, upload it, create or update the stack through a change set.

Steps: build dist/lambda.zip; upload it to S3 under a key named by its SHA-256 (so CloudFormation sees new
code exactly when the code changed); create a change set of infra/cloudformation.yaml (CREATE or UPDATE),
wait for it, execute it, wait for the stack; print the outputs and the next step. A failed stack prints
each failing resource with CloudFormation's reason. Every resource the template should have created and
the stack does not list is named (the embedded local AWS skips some types), and the exit code is then 1.

The artifact runs with the function's role, so deploy trusts no object it did not verify (docs/deploy.md):
every S3 call names the caller's account as the bucket's expected owner (a bucket another account owns is
refused); an object already under the key counts only when S3's SHA-256 of it is the local zip's, otherwise
it is replaced; the upload itself carries the SHA-256, so S3 stores exactly these bytes; and after the stack
is deployed, the function's CodeSha256 must be the zip's, or deploy fails.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from cli import package
from cli.cfn_template import TEMPLATE_PATH, active_resources, load_template
from cli.common import EXIT_FAILURES, EXIT_OK, Aws, CliError, UsageError, add_aws_options

CAPABILITIES = ["CAPABILITY_IAM"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
CODE_PREFIX = "asg-namer"
MAX_TEMPLATE_BODY = 51_200
CODE_PARAMETERS = ("CodeBucket", "CodeKey")  # deploy sets them to the object it verified
NOT_FOUND = ("404", "NoSuchBucket", "NotFound", "NoSuchKey")
DENIED = ("403", "AccessDenied", "Forbidden")

EPILOG = """\
examples:
  asg-namer deploy --stack asg-namer --create-bucket
  asg-namer deploy --stack asg-namer --asg web-prod --param AlarmEmail=ops@example.com
  asg-namer deploy --stack asg-namer --bucket my-artifacts --param LaunchSuccessfulGroupNames=web-a,web-b
"""


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help=help_text,
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack", required=True, help="CloudFormation stack name")
    parser.add_argument("--asg", help="Auto Scaling group to put the launch hook on (AutoScalingGroupName)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter (repeatable); see docs/deploy.md for the table",
    )
    parser.add_argument(
        "--bucket",
        help="S3 bucket for the artifact, owned by this account (default asg-namer-artifacts-ACCOUNT-REGION)",
    )
    parser.add_argument("--create-bucket", action="store_true", help="create the bucket if it does not exist")
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the stack (default 3600)")
    parser.add_argument("--poll", type=float, default=5, help=argparse.SUPPRESS)
    add_aws_options(parser)
    parser.set_defaults(run=run)


def parse_params(pairs: list[str], template: dict[str, Any]) -> dict[str, str]:
    known = template.get("Parameters", {})
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {pair!r} is not KEY=VALUE")
        if key not in known:
            raise UsageError(f"--param {key}: the template has no such parameter; known: {', '.join(sorted(known))}")
        if key in CODE_PARAMETERS:
            raise UsageError(
                f"--param {key}: deploy sets the code location to the artifact it uploaded and verified;"
                " choose the bucket with --bucket"
            )
        params[key] = value
    return params


def run(args: argparse.Namespace) -> int:
    template = load_template(args.template)
    params = parse_params(args.param, template)
    if args.asg:
        params["AutoScalingGroupName"] = args.asg
    body = args.template.read_text()
    if len(body.encode()) > MAX_TEMPLATE_BODY:
        raise CliError(f"{args.template} is over {MAX_TEMPLATE_BODY} bytes; CloudFormation needs it from S3")
    aws = Aws.from_args(args)
    deployer = Deployer(aws, args.stack, poll=args.poll, timeout=args.timeout)

    artifact = package.build()
    print(f"packaged {artifact.path} ({artifact.size:,} bytes, sha256 {artifact.sha256[:16]})")
    bucket = args.bucket or f"asg-namer-artifacts-{deployer.account_id()}-{aws.region}"
    key = f"{CODE_PREFIX}/lambda-{artifact.sha256[:32]}.zip"
    digest = base64.b64encode(bytes.fromhex(artifact.sha256)).decode()
    deployer.upload(artifact.path, digest, bucket, key, create_bucket=args.create_bucket)
    params["CodeBucket"], params["CodeKey"] = bucket, key

    status = deployer.deploy(body, params, sorted(template.get("Parameters", {})))
    if status is None:
        print(f"stack {args.stack}: no changes")
    outputs = deployer.outputs()
    deployer.check_function_code(outputs, digest, f"s3://{bucket}/{key}")
    for name, value in outputs.items():
        print(f"  {name} = {value}")
    missing = deployer.missing_resources(active_resources(template, params))
    if missing:
        print(
            f"asg-namer deploy: {len(missing)} resource(s) of the template were not created by this CloudFormation: "
            + ", ".join(f"{logical_id} ({kind})" for logical_id, kind in missing.items()),
            file=sys.stderr,
        )
    print(next_step(args.stack, params.get("AutoScalingGroupName"), outputs))
    return EXIT_FAILURES if missing else EXIT_OK


def next_step(stack: str, asg: str | None, outputs: dict[str, str]) -> str:
    dashboard = outputs.get("DashboardUrl", "")
    if asg:
        return (
            f"Next step: instances {asg} launches from now on are named before they enter service; name the ones "
            f"already running with 'asg-namer backfill --asg {asg}', then watch {dashboard}"
        )
    return (
        f"Next step: put the hook on a group with 'asg-namer attach --asg GROUP --stack {stack}' "
        f"(or use the exported {stack}-QueueArn and {stack}-HookRoleArn in its LifecycleHookSpecificationList), "
        f"then 'asg-namer backfill --asg GROUP' for instances already running"
    )


class Deployer:
    """One stack's deployment; every wait is a poll with a deadline."""

    def __init__(self, aws: Aws, stack: str, poll: float = 5, timeout: float = 3600) -> None:
        self.aws = aws
        self.stack = stack
        self.poll = poll
        self.timeout = timeout
        self.cfn = aws.client("cloudformation")
        self._account_id: str | None = None

    def account_id(self) -> str:
        """The caller's account (STS), the only owner an artifact bucket may have; asked once."""
        if self._account_id is None:
            self._account_id = str(self.aws.client("sts").get_caller_identity()["Account"])
        return self._account_id

    # ------------------------------------------------------------------ artifact
    def upload(self, path: Path, digest: str, bucket: str, key: str, create_bucket: bool) -> None:
        """Makes s3://bucket/key hold exactly the zip whose SHA-256 (base64) is ``digest``."""
        s3 = self.aws.client("s3")
        owner = self.account_id()
        try:
            s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
        except ClientError as error:
            if _code(error) in DENIED:
                raise self._not_owned(bucket) from None
            if _code(error) not in NOT_FOUND:
                raise CliError(f"cannot use bucket {bucket}: {_code(error)}; pass another with --bucket") from error
            if not create_bucket:
                raise CliError(f"bucket {bucket} does not exist; pass --create-bucket or --bucket NAME") from None
            self._create_bucket(s3, bucket)
        stored = self._stored_sha256(s3, bucket, key)
        if stored == digest:
            print(f"s3://{bucket}/{key} already uploaded (SHA-256 verified)")
            return
        if stored is not None:
            print(
                f"s3://{bucket}/{key} differs from this build (S3's SHA-256: {stored or 'none recorded'}, this"
                f" build's: {digest}); replacing it"
            )
        answer = s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=digest,  # S3 refuses the upload (BadDigest) unless it received exactly these bytes
            ExpectedBucketOwner=owner,
        )
        if answer.get("ChecksumSHA256") != digest:
            raise CliError(
                f"S3 did not confirm the SHA-256 of s3://{bucket}/{key} (answered {answer.get('ChecksumSHA256')});"
                " deploy again, and check the bucket's configuration if it persists"
            )
        print(f"uploaded s3://{bucket}/{key} (SHA-256 verified by S3)")

    def _stored_sha256(self, s3: Any, bucket: str, key: str) -> str | None:
        """S3's SHA-256 of the object ("" when it recorded none), or None when there is no object."""
        try:
            head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED", ExpectedBucketOwner=self.account_id())
        except ClientError as error:
            if _code(error) in NOT_FOUND:
                return None
            if _code(error) in DENIED:
                raise self._not_owned(bucket) from None
            raise
        return str(head.get("ChecksumSHA256") or "")

    def _create_bucket(self, s3: Any, bucket: str) -> None:
        config = (
            {}
            if self.aws.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": self.aws.region}}
        )
        try:
            s3.create_bucket(Bucket=bucket, **config)  # CreateBucket takes no expected owner: a name taken fails
        except ClientError as error:
            if _code(error) == "BucketAlreadyExists":  # another account registered the name first
                raise self._not_owned(bucket) from None
            if _code(error) != "BucketAlreadyOwnedByYou":
                raise
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
            ExpectedBucketOwner=self.account_id(),
        )
        print(f"created bucket {bucket} (public access blocked)")

    def _not_owned(self, bucket: str) -> CliError:
        return CliError(
            f"bucket {bucket} is not owned by account {self.account_id()} (or denies it access), so code from it"
            " could be anyone's; pass --bucket NAME with a bucket this account owns (add --create-bucket to make one)"
        )

    def check_function_code(self, outputs: dict[str, str], digest: str, source: str) -> None:
        """The function must run exactly the verified build (CodeSha256 is the SHA-256 of what Lambda took)."""
        name = outputs.get("FunctionName")
        if not name:
            raise CliError(f"stack {self.stack} has no FunctionName output; is it an asg-namer stack?")
        running = self.aws.client("lambda").get_function_configuration(FunctionName=name)["CodeSha256"]
        if running != digest:
            raise CliError(
                f"function {name} does not run this build (its CodeSha256 is {running}, the build's {digest}):"
                f" {source} changed after deploy verified it or the code was updated by hand; check who can write"
                " to the bucket and the function, then deploy again"
            )

    # ------------------------------------------------------------------ stack
    def current(self) -> dict[str, Any] | None:
        try:
            return dict(self.cfn.describe_stacks(StackName=self.stack)["Stacks"][0])
        except ClientError as error:
            if "does not exist" in str(error):
                return None
            raise

    def deploy(self, body: str, params: dict[str, str], names: list[str]) -> str | None:
        """Creates or updates through a change set; returns the final status, or None when nothing changed."""
        stack = self.current()
        status = stack["StackStatus"] if stack else None
        if status == "ROLLBACK_COMPLETE":
            raise CliError(
                f"stack {self.stack} is ROLLBACK_COMPLETE (its creation failed) and cannot be updated; delete it "
                f"with 'aws cloudformation delete-stack --stack-name {self.stack}' and deploy again"
            )
        if status is not None and status.endswith("_IN_PROGRESS"):
            raise CliError(f"stack {self.stack} is {status}; wait for it to finish and deploy again")
        change_type = "CREATE" if stack is None or status == "REVIEW_IN_PROGRESS" else "UPDATE"
        previous = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])}
        parameters: list[dict[str, str | bool]] = [
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(params.items())
        ]
        if change_type == "UPDATE":
            parameters += [
                {"ParameterKey": name, "UsePreviousValue": True}
                for name in names
                if name not in params and name in previous
            ]
        name = f"asg-namer-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
        started = time.time()
        try:
            self.cfn.create_change_set(
                StackName=self.stack,
                ChangeSetName=name,
                ChangeSetType=change_type,
                TemplateBody=body,
                Parameters=parameters,
                Capabilities=CAPABILITIES,
                Description="asg-namer deploy",
            )
        except ClientError as error:
            if any(text in str(error) for text in NO_CHANGES):  # some endpoints refuse the change set up front
                return None
            raise
        change_set = self._wait(
            lambda: self.cfn.describe_change_set(StackName=self.stack, ChangeSetName=name),
            lambda cs: cs["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"),
        )
        if change_set["Status"] == "FAILED":
            reason = change_set.get("StatusReason", "")
            if any(text in reason for text in NO_CHANGES):
                self.cfn.delete_change_set(StackName=self.stack, ChangeSetName=name)
                return None
            raise CliError(f"change set {name} failed: {reason}")
        print(f"{change_type.lower()} stack {self.stack}: {len(change_set.get('Changes', []))} change(s)")
        self.cfn.execute_change_set(StackName=self.stack, ChangeSetName=name)
        final = self._wait(
            lambda: self.cfn.describe_stacks(StackName=self.stack)["Stacks"][0],
            lambda st: not st["StackStatus"].endswith("_IN_PROGRESS"),
        )
        final_status = str(final["StackStatus"])
        if final_status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            reasons = self.failure_reasons(started)
            detail = "\n".join(f"  {line}" for line in reasons) or "  (no failed resource events)"
            raise CliError(f"stack {self.stack} ended {final_status}; failing resources:\n{detail}")
        print(f"stack {self.stack}: {final_status}")
        return final_status

    def failure_reasons(self, since: float) -> list[str]:
        """Each resource that failed since ``since``, with CloudFormation's reason (oldest first)."""
        lines: list[str] = []
        for page in self.cfn.get_paginator("describe_stack_events").paginate(StackName=self.stack):
            for event in page["StackEvents"]:
                if event["Timestamp"].timestamp() < since - 60:
                    return lines[::-1]
                if event.get("ResourceStatus", "").endswith("_FAILED"):
                    lines.append(
                        f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}) {event['ResourceStatus']}: "
                        f"{event.get('ResourceStatusReason', 'no reason given')}"
                    )
        return lines[::-1]

    def outputs(self) -> dict[str, str]:
        stack = self.current() or {}
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}

    def missing_resources(self, expected: dict[str, str]) -> dict[str, str]:
        """Template resources (for these parameters) that the stack does not list as created."""
        listed = self.cfn.describe_stack_resources(StackName=self.stack)["StackResources"]
        created = {
            r["LogicalResourceId"]
            for r in listed
            if "LogicalResourceId" in r and "FAILED" not in r.get("ResourceStatus", "")
        }
        return {logical_id: kind for logical_id, kind in sorted(expected.items()) if logical_id not in created}

    def _wait(self, fetch: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
        deadline = time.monotonic() + self.timeout
        delay = min(1.0, self.poll)
        while True:
            current = fetch()
            if done(current):
                return current
            if time.monotonic() > deadline:
                raise CliError(f"gave up waiting after {self.timeout:.0f} s; check the stack in the console")
            time.sleep(delay)
            delay = min(delay * 2, self.poll)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
