"""Read-only lookups the operator commands share: groups, hooks, stacks, queues and the template to use.

Instances are read through handler.fleet.Fleet (``Aws.fleet()``), the same code the Lambda uses.
"""

from __future__ import annotations

import json
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
