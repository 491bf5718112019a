"""``asg-namer status``: what is waiting right now.

Instances held in Pending:Wait and for how long (since launch), the queue's depth and in-flight count,
the dead-letter queue's depth, and the age of the oldest message (CloudWatch's
ApproximateAgeOfOldestMessage; shown as unavailable when CloudWatch has no recent datapoint).
With --asg the queue is the one the group's launch hook targets; with --stack it is the stack's queue.
Reads only; exit 0.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cli import lookup
from cli.common import EXIT_OK, Aws, UsageError, add_aws_options

EPILOG = """\
examples:
  asg-namer status --asg web-prod
  asg-namer status --stack asg-namer
  asg-namer status --stack asg-namer --asg web-prod
"""

PENDING_WAIT = "Pending:Wait"
METRIC_WINDOW = timedelta(minutes=15)


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "status",
        help=help_text,
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack", help="asg-namer stack (its queue and DLQ)")
    parser.add_argument("--asg", help="Auto Scaling group (its waiting instances and its hook's queue)")
    add_aws_options(parser)
    parser.set_defaults(run=run)


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def run(args: argparse.Namespace) -> int:
    if not args.stack and not args.asg:
        raise UsageError("say what to look at: --stack STACK or --asg NAME (or both)")
    aws = Aws.from_args(args)
    queue_url = dlq_url = None
    if args.stack:
        outputs = lookup.stack_outputs(aws, args.stack)
        queue_url = lookup.output(outputs, lookup.QUEUE_URL_KEYS, args.stack, required=False)
        if queue_url is None:
            queue_arn = lookup.output(outputs, lookup.QUEUE_ARN_KEYS, args.stack)
            assert queue_arn is not None
            queue_url = lookup.queue_url_from_arn(aws, queue_arn)
        dlq_url = lookup.output(outputs, lookup.DLQ_URL_KEYS, args.stack, required=False)
    if args.asg:
        hook_queue = _group_status(aws, args.asg)
        queue_url = queue_url or hook_queue
    if queue_url is None:
        print("Queue: the group has no launch hook targeting an SQS queue (attach one with 'asg-namer attach').")
        return EXIT_OK
    if dlq_url is None:
        dlq_arn = lookup.dlq_arn_of(aws, queue_url)
        dlq_url = lookup.queue_url_from_arn(aws, dlq_arn) if dlq_arn else None
    _queue_status(aws, "Queue", queue_url, in_flight=True)
    if dlq_url is None:
        print("DLQ: none (the queue has no RedrivePolicy; failed messages are retried until they expire)")
    else:
        depth = _queue_status(aws, "DLQ", dlq_url, in_flight=False)
        if depth:
            print(f"  -> inspect and move back after fixing the cause: asg-namer redrive --dlq-url {dlq_url} --dry-run")
    return EXIT_OK


def _group_status(aws: Aws, asg_name: str) -> str | None:
    """Prints the group's waiting instances; returns the URL of the queue its launch hook targets."""
    group = lookup.group(aws, asg_name)
    hooks = lookup.launch_hooks(aws, asg_name)
    instances = group.get("Instances", [])
    waiting = [i["InstanceId"] for i in instances if i.get("LifecycleState") == PENDING_WAIT]
    print(f"Group {asg_name}: {len(instances)} instance(s), {len(waiting)} in {PENDING_WAIT}")
    for hook in hooks:
        print(
            f"  launch hook {hook['LifecycleHookName']}: heartbeat {hook.get('HeartbeatTimeout', '?')} s,"
            f" default result {hook.get('DefaultResult', '?')}, target {hook.get('NotificationTargetARN') or '(none)'}"
        )
    if not hooks:
        print(f"  no launch hook: new instances are not named (asg-namer attach --asg {asg_name} ...)")
    if waiting:
        described = aws.fleet().describe(waiting)
        now = datetime.now(UTC)
        rows = []
        for instance_id in waiting:
            known = described.get(instance_id)
            launched = known.launch_time if known is not None else None
            rows.append((-(now - launched).total_seconds() if launched else 0.0, instance_id, launched))
        print(f"  {'instance':<21} waiting for")
        for _, instance_id, launched in sorted(rows):
            since = _duration((now - launched).total_seconds()) if launched else "? (no launch time)"
            print(f"  {instance_id:<21} {since}")
    for hook in hooks:
        target = hook.get("NotificationTargetARN") or ""
        if target.startswith("arn:") and ":sqs:" in target:
            return lookup.queue_url_from_arn(aws, target)
    return None


def _queue_status(aws: Aws, label: str, url: str, *, in_flight: bool) -> int:
    attributes = lookup.queue_attributes(
        aws, url, "QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"
    )
    depth = int(attributes.get("ApproximateNumberOfMessages", 0))
    line = f"{label} {url}: {depth} waiting"
    if in_flight:
        line += f", {int(attributes.get('ApproximateNumberOfMessagesNotVisible', 0))} in flight"
    print(line + f"; oldest message: {_oldest_age(aws, attributes['QueueArn'].split(':')[-1])}")
    return depth


def _oldest_age(aws: Aws, queue_name: str) -> str:
    """ApproximateAgeOfOldestMessage from CloudWatch (SQS itself does not report it)."""
    now = datetime.now(UTC)
    try:
        answer = aws.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": queue_name}],
            StartTime=now - METRIC_WINDOW,
            EndTime=now,
            Period=60,
            Statistics=["Maximum"],
        )
    except (ClientError, BotoCoreError) as error:
        return f"unavailable (CloudWatch: {str(error).splitlines()[0]})"
    points = sorted(answer.get("Datapoints", []), key=lambda p: p["Timestamp"])
    if not points:
        return "unavailable (no CloudWatch datapoint in the last 15 min)"
    return f"{_duration(points[-1]['Maximum'])} (CloudWatch, {points[-1]['Timestamp']:%H:%M} UTC)"
