"""``asg-namer attach``: put the launch lifecycle hook on an existing Auto Scaling group.

The hook targets asg-namer's queue; from then on every launch waits in Pending:Wait until the handler
names the instance. Instances already running never get a message: name them with ``backfill``.
A hook of the same name is never overwritten silently: attach shows it and needs --replace. The heartbeat
timeout must cover the stack's retry cycle (queue visibility + batching window + function timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from cli import lookup
from cli.cfn_template import load_template
from cli.common import EXIT_OK, Aws, CliError, UsageError, add_aws_options
from handler.naming import NOTIFICATION_METADATA_TEMPLATE_KEY

DEFAULT_HOOK_NAME = "asg-namer-launch"
# The stack's default (HookHeartbeatTimeout): queue visibility 360 + batching window 60 + function timeout 60
# fit in it, so a redelivered message still finds its lifecycle action alive.
DEFAULT_HEARTBEAT_TIMEOUT = 600
MAX_HEARTBEAT_TIMEOUT = 7200  # Auto Scaling's upper bound
MAX_METADATA_LENGTH = 1023

EPILOG = """\
examples:
  asg-namer attach --asg web-prod --stack asg-namer
  asg-namer attach --asg web-prod --queue-arn arn:aws:sqs:eu-west-1:123456789012:asg-namer-queue \\
      --role-arn arn:aws:iam::123456789012:role/asg-namer-hook --name-template '{tag:App}-{ip3}-{ip4}'

Instances already running get no message; run 'asg-namer backfill --asg NAME' for them afterwards.
"""


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "attach",
        help=help_text,
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--asg", required=True, help="Auto Scaling group name")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="asg-namer stack whose QueueArn and HookRoleArn outputs to use")
    target.add_argument("--queue-arn", help="SQS queue the hook notifies (needs --role-arn)")
    parser.add_argument("--role-arn", help="IAM role Auto Scaling assumes to publish to the queue")
    parser.add_argument(
        "--heartbeat-timeout",
        type=_heartbeat,
        help="seconds an instance may wait in Pending:Wait (the stack's minimum, 480, up to 7200; default: the"
        f" stack's HookHeartbeatTimeout output with --stack, else {DEFAULT_HEARTBEAT_TIMEOUT})",
    )
    parser.add_argument(
        "--default-result",
        choices=("CONTINUE", "ABANDON"),
        default="ABANDON",
        help="what Auto Scaling does at the timeout (default ABANDON: terminate and replace)",
    )
    parser.add_argument("--name-template", help="per-group template, stored in the hook's NotificationMetadata")
    parser.add_argument("--hook-name", default=DEFAULT_HOOK_NAME, help=f"hook name (default {DEFAULT_HOOK_NAME})")
    parser.add_argument(
        "--replace", action="store_true", help="overwrite a hook of the same name on the group (shown first)"
    )
    add_aws_options(parser)
    parser.set_defaults(run=run)


def _heartbeat(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number of seconds") from None


@dataclass(frozen=True)
class HeartbeatMinimum:
    """The smallest HeartbeatTimeout with which a redelivered message still finds its lifecycle action alive."""

    visibility: int
    batching_window: int
    function_timeout: int

    @property
    def seconds(self) -> int:
        return self.visibility + self.batching_window + self.function_timeout

    def why(self) -> str:
        return (
            f"queue visibility {self.visibility} s + batching window {self.batching_window} s"
            f" + function timeout {self.function_timeout} s"
        )


def minimum_heartbeat_seconds(template: Mapping[str, Any]) -> HeartbeatMinimum:
    """The stack's formula, read from its template so attach and the stack can never disagree."""
    resources = template["Resources"]
    return HeartbeatMinimum(
        visibility=int(resources["Queue"]["Properties"]["VisibilityTimeout"]),
        batching_window=int(template["Parameters"]["BatchingWindowSeconds"]["MaxValue"]),
        function_timeout=int(resources["Function"]["Properties"]["Timeout"]),
    )


def check_heartbeat(seconds: int, minimum: HeartbeatMinimum) -> None:
    if seconds > MAX_HEARTBEAT_TIMEOUT:
        raise UsageError(f"--heartbeat-timeout {seconds} is over Auto Scaling's maximum of {MAX_HEARTBEAT_TIMEOUT} s")
    if seconds < minimum.seconds:
        raise UsageError(
            f"--heartbeat-timeout {seconds} is too short: pass at least {minimum.seconds} ({minimum.why()}), so a"
            " message redelivered after a failure still finds its lifecycle action alive"
        )


def describe_hook(hook: Mapping[str, Any]) -> str:
    """A hook's settings in one line, as the operator needs them to decide whether to replace it."""
    metadata = hook.get("NotificationMetadata")
    transition = hook.get("LifecycleTransition")
    return (
        (f"transition {transition}, " if transition != lookup.LAUNCH_TRANSITION else "")
        + f"target {hook.get('NotificationTargetARN') or '(none)'}, role {hook.get('RoleARN') or '(none)'},"
        f" heartbeat {hook.get('HeartbeatTimeout')} s, default result {hook.get('DefaultResult')},"
        + (f" metadata {metadata!r}" if metadata else " no metadata")
    )


def existing_hook(aws: Aws, asg_name: str, hook_name: str) -> dict[str, Any] | None:
    """The group's hook of this name, whatever its transition (hook names are unique per group)."""
    hooks = aws.client("autoscaling").describe_lifecycle_hooks(
        AutoScalingGroupName=asg_name, LifecycleHookNames=[hook_name]
    )["LifecycleHooks"]
    return next((dict(h) for h in hooks if h.get("LifecycleHookName") == hook_name), None)


def metadata_for(template: str | None) -> str | None:
    """The hook's NotificationMetadata: the template as JSON under the key the handler reads."""
    if template is None:
        return None
    lookup.parse_template(template)
    metadata = json.dumps({NOTIFICATION_METADATA_TEMPLATE_KEY: template}, separators=(",", ":"))
    if len(metadata) > MAX_METADATA_LENGTH:
        raise UsageError(
            f"--name-template makes {len(metadata)} characters of hook metadata; the limit is {MAX_METADATA_LENGTH}"
        )
    return metadata


def run(args: argparse.Namespace) -> int:
    if args.queue_arn and not args.role_arn:
        raise UsageError("--queue-arn needs --role-arn (the role Auto Scaling uses to publish to the queue)")
    if args.stack and args.role_arn:
        raise UsageError("--role-arn goes with --queue-arn; with --stack the role comes from the stack's outputs")
    metadata = metadata_for(args.name_template)
    minimum = minimum_heartbeat_seconds(load_template())
    if args.heartbeat_timeout is not None:
        check_heartbeat(args.heartbeat_timeout, minimum)
    aws = Aws.from_args(args)
    if args.stack:
        outputs = lookup.stack_outputs(aws, args.stack)
        queue_arn = lookup.output(outputs, lookup.QUEUE_ARN_KEYS, args.stack)
        role_arn = lookup.output(outputs, lookup.HOOK_ROLE_ARN_KEYS, args.stack)
        stack_heartbeat = lookup.output(outputs, lookup.HEARTBEAT_KEYS, args.stack, required=False)
        if args.heartbeat_timeout is None and stack_heartbeat and stack_heartbeat.isdigit():
            args.heartbeat_timeout = int(stack_heartbeat)
    else:
        queue_arn, role_arn = args.queue_arn, args.role_arn
    if args.heartbeat_timeout is None:
        args.heartbeat_timeout = DEFAULT_HEARTBEAT_TIMEOUT
    check_heartbeat(args.heartbeat_timeout, minimum)
    group = lookup.group(aws, args.asg)
    replaced = existing_hook(aws, args.asg, args.hook_name)
    if replaced is not None and not args.replace:
        raise CliError(
            f"{args.asg} already has hook {args.hook_name!r} ({describe_hook(replaced)}); rerun with --replace to"
            " overwrite it, or choose another --hook-name"
        )
    others = [h for h in lookup.launch_hooks(aws, args.asg) if h["LifecycleHookName"] != args.hook_name]
    params: dict[str, Any] = {
        "AutoScalingGroupName": args.asg,
        "LifecycleHookName": args.hook_name,
        "LifecycleTransition": lookup.LAUNCH_TRANSITION,
        "NotificationTargetARN": queue_arn,
        "RoleARN": role_arn,
        "HeartbeatTimeout": args.heartbeat_timeout,
        "DefaultResult": args.default_result,
    }
    if metadata is not None:
        params["NotificationMetadata"] = metadata
    try:
        aws.client("autoscaling").put_lifecycle_hook(**params)
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        raise CliError(
            f"PutLifecycleHook failed: {message.splitlines()[0]}; check that {role_arn} can sqs:SendMessage"
            f" to {queue_arn} and that the queue is a standard queue in {aws.region}"
        ) from None
    if replaced is not None:
        print(f"Replaced launch hook {args.hook_name!r} on {args.asg}; it was: {describe_hook(replaced)}")
    print(
        f"Attached launch hook {args.hook_name!r} to {args.asg}: -> {queue_arn}"
        f" (heartbeat {args.heartbeat_timeout} s, default result {args.default_result}"
        + (f", template {args.name_template!r})" if args.name_template else ")")
    )
    for hook in others:
        print(
            f"note: the group also has launch hook {hook['LifecycleHookName']!r}; an instance waits until every"
            " launch hook is completed",
            file=sys.stderr,
        )
    lookup.warn_if_hostnames_cannot_be_read(
        aws, group, os.environ.get("NAME_TAG_KEY") or "Name", lookup.hostname_safe(aws, args.stack)
    )
    running = [i for i in group.get("Instances", []) if not i.get("LifecycleState", "").startswith("Terminat")]
    print(
        f"warning: the {len(running)} instance(s) already in {args.asg} will never get a hook message;"
        f" name them with: asg-namer backfill --asg {args.asg}",
        file=sys.stderr,
    )
    return EXIT_OK
