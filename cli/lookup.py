"""Read-only lookups the operator commands share: groups, hooks, stacks, queues, launch templates.

Instances are read through handler.fleet.Fleet (``Aws.fleet()``), the same code the Lambda uses.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from cli.common import Aws, CliError, UsageError
from handler.naming import (
    NameTemplate,
    TemplateError,
    compile_template,
)

LAUNCH_TRANSITION = "autoscaling:EC2_INSTANCE_LAUNCHING"

# Output keys of infra/cloudformation.yaml (first in each tuple); later spellings are tolerated.
QUEUE_ARN_KEYS = ("QueueArn", "NotificationQueueArn")
QUEUE_URL_KEYS = ("QueueUrl", "NotificationQueueUrl")
HOOK_ROLE_ARN_KEYS = ("HookRoleArn", "LifecycleHookRoleArn")
DLQ_URL_KEYS = ("DeadLetterQueueUrl", "DlqUrl", "DLQUrl")
HEARTBEAT_KEYS = ("HookHeartbeatTimeout",)


def group(aws: Aws, name: str) -> dict[str, Any]:
    """DescribeAutoScalingGroups for one group; a missing group is a one-line CliError."""
    groups = aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        raise CliError(
            f"Auto Scaling group {name!r} not found in {aws.region}; check --asg and --region"
            " (aws autoscaling describe-auto-scaling-groups lists them)"
        )
    return dict(groups[0])


def launch_hooks(aws: Aws, asg_name: str) -> list[dict[str, Any]]:
    hooks = aws.client("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName=asg_name)["LifecycleHooks"]
    return [h for h in hooks if h.get("LifecycleTransition") == LAUNCH_TRANSITION]


def metadata_tags_problem(aws: Aws, group: dict[str, Any]) -> str | None:
    """Why instances of this group cannot read their tags through instance metadata, or None when they can.

    The hostname helper reads the Name tag there: the launch template needs
    ``MetadataOptions.InstanceMetadataTags: enabled`` (launch configurations cannot enable it).
    """
    spec = group.get("LaunchTemplate") or (
        group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get("LaunchTemplateSpecification")
    )
    if not spec:
        return "it launches from a launch configuration, which cannot enable instance metadata tags"
    selector = (
        {"LaunchTemplateId": spec["LaunchTemplateId"]}
        if spec.get("LaunchTemplateId")
        else {"LaunchTemplateName": spec["LaunchTemplateName"]}
    )
    versions = aws.client("ec2").describe_launch_template_versions(
        **selector, Versions=[str(spec.get("Version") or "$Default")]
    )["LaunchTemplateVersions"]
    options = versions[0].get("LaunchTemplateData", {}).get("MetadataOptions", {}) if versions else {}
    if options.get("InstanceMetadataTags") != "enabled":
        return "its launch template does not set MetadataOptions.InstanceMetadataTags: enabled"
    return None


def hostname_safe(aws: Aws, stack: str | None) -> bool:
    """HOSTNAME_SAFE as the function has it (its environment, through the stack), else as this shell has it."""
    env: Mapping[str, str] = os.environ
    if stack:
        function = output(stack_outputs(aws, stack), ("FunctionName",), stack, required=False)
        if function:
            configuration = aws.client("lambda").get_function_configuration(FunctionName=function)
            env = configuration.get("Environment", {}).get("Variables", {})
    return str(env.get("HOSTNAME_SAFE", "")).strip().lower() in ("true", "1", "yes")


def warn_if_hostnames_cannot_be_read(aws: Aws, group: dict[str, Any], tag_key: str, enabled: bool) -> None:
    """With HOSTNAME_SAFE on, instances are meant to take their Name as hostname: say when they cannot."""
    if not enabled:
        return
    problem = metadata_tags_problem(aws, group)
    if problem:
        print(
            f"warning: HOSTNAME_SAFE is on but instances of {group['AutoScalingGroupName']} cannot read their"
            f" {tag_key} tag from instance metadata: {problem} (docs/hostnames.md)",
            file=sys.stderr,
        )
    if " " in tag_key or "/" in tag_key:
        print(
            f"warning: the tag key {tag_key!r} holds a space or '/', which instance metadata cannot serve;"
            " the hostname helper cannot read it",
            file=sys.stderr,
        )


def parse_template(text: str, where: str = "--name-template") -> NameTemplate:
    try:
        return compile_template(text)
    except TemplateError as error:
        raise UsageError(f"{where} {text!r} is invalid: {error}; see 'Naming templates' in the README") from None


def stack_outputs(aws: Aws, stack: str) -> dict[str, str]:
    try:
        stacks = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationError":
            raise CliError(
                f"stack {stack!r} not found in {aws.region}; check --stack and --region, or deploy it first"
                " (asg-namer deploy --stack NAME)"
            ) from None
        raise
    outputs = stacks[0].get("Outputs", []) if stacks else []
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


def output(outputs: Mapping[str, str], keys: tuple[str, ...], stack: str, required: bool = True) -> str | None:
    for key in keys:
        if outputs.get(key):
            return outputs[key]
    if required:
        have = ", ".join(sorted(outputs)) or "none"
        raise CliError(f"stack {stack!r} has no output {keys[0]} (outputs: {have}); is it an asg-namer stack?")
    return None


def queue_url_from_arn(aws: Aws, arn: str) -> str:
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise UsageError(f"{arn!r} is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)")
    try:
        answer = aws.client("sqs").get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])
    except ClientError as error:
        if "NonExistentQueue" in error.response.get("Error", {}).get("Code", ""):
            raise CliError(f"queue {arn} does not exist; check the ARN and --region") from None
        raise
    return str(answer["QueueUrl"])


def queue_attributes(aws: Aws, url: str, *names: str) -> dict[str, str]:
    try:
        answer = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"])
    except ClientError as error:
        if "NonExistentQueue" in error.response.get("Error", {}).get("Code", ""):
            raise CliError(f"queue {url} does not exist; check the URL and --region") from None
        raise
    return dict(answer.get("Attributes", {}))


def dlq_arn_of(aws: Aws, queue_url: str) -> str | None:
    policy = queue_attributes(aws, queue_url, "RedrivePolicy").get("RedrivePolicy")
    if not policy:
        return None
    try:
        return str(json.loads(policy)["deadLetterTargetArn"])
    except (ValueError, KeyError, TypeError):
        return None
