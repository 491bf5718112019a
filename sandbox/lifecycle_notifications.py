"""The messages Auto Scaling sends to a lifecycle hook's notification target, and their delivery.

Bodies are the documented flat JSON of a hook that targets SQS directly: the test notification a hook
put with a target sends, and the launch message of each lifecycle action. Only standard SQS queues of
the group's account and Region are emulated targets; the message is put on the queue by calling moto's
SQS backend in-process (no HTTP request, no fault injection: this is AWS talking to itself).
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.sqs.models import sqs_backends

from sandbox.lifecycle_hooks import LAUNCHING

if TYPE_CHECKING:
    from moto.autoscaling.models import FakeAutoScalingGroup, LifecycleHook

logger = logging.getLogger(__name__)

TEST_NOTIFICATION = "autoscaling:TEST_NOTIFICATION"
SERVICE = "AWS Auto Scaling"


@dataclass(frozen=True)
class SentNotification:
    """A message the sandbox's Auto Scaling put (or tried to put) on a notification target."""

    time: float
    kind: str  # "test" or "launch"
    target_arn: str
    asg: str
    instance_id: str | None
    body: dict[str, Any]
    delivered: bool


def iso_time(epoch_seconds: float) -> str:
    """``2021-01-19T00:36:26.533Z``: the Time format of lifecycle notifications."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_test_notification(group: FakeAutoScalingGroup, request_id: str, now: float) -> dict[str, Any]:
    """``autoscaling:TEST_NOTIFICATION``, sent when a hook gets a notification target."""
    return {
        "AccountId": group.account_id,
        "RequestId": request_id,
        "AutoScalingGroupARN": group.arn,
        "AutoScalingGroupName": group.name,
        "Service": SERVICE,
        "Event": TEST_NOTIFICATION,
        "Time": iso_time(now),
    }


def build_launch_message(
    group: FakeAutoScalingGroup, hook: LifecycleHook, instance_id: str, token: str, request_id: str, now: float
) -> dict[str, Any]:
    """The message of one launch lifecycle action (all hooks of one launch share its RequestId)."""
    body: dict[str, Any] = {
        "Origin": "EC2",
        "Destination": "AutoScalingGroup",
        "LifecycleHookName": hook.name,
        "AccountId": group.account_id,
        "RequestId": request_id,
        "LifecycleTransition": LAUNCHING,
        "AutoScalingGroupName": group.name,
        "Service": SERVICE,
        "Time": iso_time(now),
        "EC2InstanceId": instance_id,
        "LifecycleActionToken": token,
    }
    metadata = getattr(hook, "notification_metadata", None)
    if metadata:
        body["NotificationMetadata"] = metadata
    return body


def is_emulated_target(target_arn: str, account_id: str, region: str) -> bool:
    """True for an existing standard (not FIFO) SQS queue of that account and Region; SNS is not emulated."""
    parts = target_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        return False
    if parts[3] != region or parts[4] != account_id:
        return False
    queue = sqs_backends[parts[4]][parts[3]].queues.get(parts[5])
    return queue is not None and not queue.fifo_queue


def deliver(
    now: float, kind: str, target_arn: str, asg: str, instance_id: str | None, body: dict[str, Any]
) -> SentNotification:
    """Puts the message on the target queue; a queue deleted meanwhile loses it, as on AWS."""
    delivered = False
    parts = target_arn.split(":")
    if len(parts) == 6:
        with contextlib.suppress(Exception):
            sqs_backends[parts[4]][parts[3]].send_message(parts[5], json.dumps(body, separators=(",", ":")))
            delivered = True
    if not delivered:
        logger.warning("lifecycle notification to %s was not delivered", target_arn)
    return SentNotification(now, kind, target_arn, asg, instance_id, body, delivered)
