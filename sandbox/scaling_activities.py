"""Scaling activities as DescribeScalingActivities reports them (moto 5.2.5 answers an empty list).

Every launch into a group and every termination out of it is an activity, with the texts Auto Scaling
writes (Amazon EC2 Auto Scaling User Guide, "Verify a scaling activity"; the AWS knowledge-center article
on lifecycle actions for the StatusMessage of an abandoned launch):

* a launch: Description ``Launching a new EC2 instance: i-...``, StatusCode ``InProgress`` while a launch
  lifecycle action holds the instance, then ``Successful``; ``Cancelled`` when the action was abandoned,
  with the StatusMessage ``Instance failed to complete user's Lifecycle Action: Lifecycle Action with token
  <token> was abandoned: <why>``, where ``<why>`` is ``Lifecycle Action Completed with ABANDON Result``
  (CompleteLifecycleAction with ABANDON) or ``Heartbeat Timeout`` (the hook timed out with ABANDON);
* a termination: Description ``Terminating EC2 instance: i-...``, ``Successful``, with a Cause that says why
  (a difference between desired and actual capacity, a user request, an EC2 health check, an abandoned launch).

Assumptions, where AWS documents no text: a launch abandoned because its hook was deleted says
``Lifecycle Hook Deleted``; a waiting instance terminated from outside ends its launch ``Cancelled`` without a
StatusMessage; the Progress of a launch held by a hook is 30. Activities are kept for the life of the sandbox
(AWS keeps six weeks). Times are on the sandbox clock, like every other time the sandbox writes.

Thread-safe; the lifecycle engine records, the DescribeScalingActivities patch reads.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError

IN_PROGRESS = "InProgress"
SUCCESSFUL = "Successful"
CANCELLED = "Cancelled"
MAX_RECORDS = 100
MAX_ACTIVITY_IDS = 50
LAUNCH_DESCRIPTION = "Launching a new EC2 instance: {instance_id}"
TERMINATE_DESCRIPTION = "Terminating EC2 instance: {instance_id}"
ABANDONED_MESSAGE = (
    "Instance failed to complete user's Lifecycle Action: Lifecycle Action with token {token} was abandoned: {why}"
)
ABANDON_RESULT = "Lifecycle Action Completed with ABANDON Result"
HEARTBEAT_TIMEOUT = "Heartbeat Timeout"
HOOK_DELETED = "Lifecycle Hook Deleted"  # assumption: AWS documents no text for it
WAITING_PROGRESS = 30  # assumption: a launch held by a lifecycle hook, as the console shows it mid-way


def cause_time(epoch_seconds: float) -> str:
    """``2020-10-30T19:36:07Z``: how a Cause writes times."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def launch_cause(now: float, before: int, after: int) -> str:
    return (
        f"At {cause_time(now)} an instance was started in response to a difference between desired and actual"
        f" capacity, increasing the capacity from {before} to {after}."
    )


def scale_in_cause(now: float, before: int, after: int, instance_id: str) -> str:
    return (
        f"At {cause_time(now)} an instance was taken out of service in response to a difference between desired and"
        f" actual capacity, shrinking the capacity from {before} to {after}.  At {cause_time(now)} instance"
        f" {instance_id} was selected for termination."
    )


def user_request_cause(now: float, instance_id: str, shrinking: tuple[int, int] | None) -> str:
    """TerminateInstanceInAutoScalingGroup (moto's own TerminateInstanceActivity says the same)."""
    text = f"At {cause_time(now)} instance {instance_id} was taken out of service in response to a user request"
    return text + (f", shrinking the capacity from {shrinking[0]} to {shrinking[1]}." if shrinking else ".")


def health_check_cause(now: float) -> str:
    """An instance terminated through EC2 (TerminateInstances) while its group held it."""
    return (
        f"At {cause_time(now)} an instance was taken out of service in response to an EC2 health check indicating"
        " it has been terminated or stopped."
    )


def abandoned_cause(now: float, instance_id: str) -> str:
    return (
        f"At {cause_time(now)} instance {instance_id} was taken out of service in response to its launch lifecycle"
        " action being abandoned."
    )


@dataclass
class ScalingActivity:
    """One activity; ``to_api`` is its shape in a DescribeScalingActivities answer."""

    activity_id: str
    account_id: str
    region: str
    group_name: str
    group_arn: str
    instance_id: str
    description: str
    cause: str
    start_time: float  # sandbox epoch seconds
    details: dict[str, str]
    status_code: str = IN_PROGRESS
    progress: int = WAITING_PROGRESS
    end_time: float | None = None
    status_message: str | None = None
    sequence: int = field(default=0, compare=False)

    def finish(self, status_code: str, now: float, status_message: str | None = None) -> None:
        self.status_code, self.progress, self.end_time = status_code, 100, now
        if status_message is not None:
            self.status_message = status_message

    def to_api(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "ActivityId": self.activity_id,
            "AutoScalingGroupName": self.group_name,
            "Description": self.description,
            "Cause": self.cause,
            "StartTime": datetime.fromtimestamp(self.start_time, tz=UTC),
            "StatusCode": self.status_code,
            "Progress": self.progress,
            "Details": json.dumps(self.details, separators=(",", ":")),
            "AutoScalingGroupARN": self.group_arn,
        }
        if self.end_time is not None:
            answer["EndTime"] = datetime.fromtimestamp(self.end_time, tz=UTC)
        if self.status_message is not None:
            answer["StatusMessage"] = self.status_message
        return answer


@dataclass(frozen=True)
class GroupRef:
    """What an activity needs of its group: where it lives and its ARN (moto's group object stays outside)."""

    account_id: str
    region: str
    name: str
    arn: str


class InvalidNextToken(AutoscalingClientError):
    code = "InvalidNextToken"


class ActivityLog:
    """Every scaling activity of the sandbox; the open launch of each instance is kept to finish it later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._activities: list[ScalingActivity] = []
        self._open_launches: dict[str, ScalingActivity] = {}
        self._sequence = 0

    # ------------------------------------------------------------------ recording (the lifecycle engine)
    def launch(self, group: GroupRef, instance_id: str, details: dict[str, str], cause: str, now: float) -> None:
        """A launch starts; it stays InProgress until ``launch_succeeded`` or ``launch_cancelled``."""
        activity = self._new(group, instance_id, LAUNCH_DESCRIPTION.format(instance_id=instance_id), cause, now)
        activity.details = details
        with self._lock:
            self._open_launches[instance_id] = activity

    def launch_succeeded(self, instance_id: str, now: float) -> None:
        with self._lock:
            activity = self._open_launches.pop(instance_id, None)
        if activity is not None:
            activity.finish(SUCCESSFUL, now)

    def launch_cancelled(self, instance_id: str, now: float, abandoned: tuple[str, str] | None = None) -> None:
        """``abandoned`` is (token, why) when a launch lifecycle action was abandoned."""
        with self._lock:
            activity = self._open_launches.pop(instance_id, None)
        if activity is None:
            return
        message = ABANDONED_MESSAGE.format(token=abandoned[0], why=abandoned[1]) if abandoned else None
        activity.finish(CANCELLED, now, message)

    def terminated(self, group: GroupRef, instance_id: str, details: dict[str, str], cause: str, now: float) -> None:
        """A termination (recorded once it is done: the sandbox terminates at once)."""
        activity = self._new(group, instance_id, TERMINATE_DESCRIPTION.format(instance_id=instance_id), cause, now)
        activity.details = details
        activity.finish(SUCCESSFUL, now)

    def _new(self, group: GroupRef, instance_id: str, description: str, cause: str, now: float) -> ScalingActivity:
        with self._lock:
            self._sequence += 1
            activity = ScalingActivity(
                activity_id=str(uuid.uuid4()),
                account_id=group.account_id,
                region=group.region,
                group_name=group.name,
                group_arn=group.arn,
                instance_id=instance_id,
                description=description,
                cause=cause,
                start_time=now,
                details={},
                sequence=self._sequence,
            )
            self._activities.append(activity)
            return activity

    # ------------------------------------------------------------------ reading
    def activities(self, group_name: str | None = None) -> list[ScalingActivity]:
        """Every activity (optionally of one group), newest first."""
        with self._lock:
            found = [a for a in self._activities if group_name is None or a.group_name == group_name]
        return sorted(found, key=lambda a: (a.start_time, a.sequence), reverse=True)

    def describe(
        self,
        account_id: str,
        region: str,
        *,
        live_group_arns: Collection[str],
        group_name: str | None = None,
        activity_ids: Sequence[str] = (),
        include_deleted_groups: bool = False,
        max_records: int | None = None,
        next_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """DescribeScalingActivities: newest first, ``MaxRecords`` (1..100, default 100) per page."""
        limit = MAX_RECORDS if max_records is None else max_records
        if not 1 <= limit <= MAX_RECORDS:
            raise ValidationError(
                f"1 validation error detected: Value '{limit}' at 'maxRecords' failed to satisfy constraint: "
                f"Member must have value {'less' if limit > MAX_RECORDS else 'greater'} than or equal to "
                f"{MAX_RECORDS if limit > MAX_RECORDS else 1}"
            )
        if len(activity_ids) > MAX_ACTIVITY_IDS:
            raise ValidationError(
                f"1 validation error detected: Value at 'activityIds' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_ACTIVITY_IDS}"
            )
        wanted = set(activity_ids)
        matching = [
            a
            for a in self.activities(group_name)
            if (a.account_id, a.region) == (account_id, region)
            and (not wanted or a.activity_id in wanted)
            and (include_deleted_groups or a.group_arn in live_group_arns)
        ]
        start = _page_start(matching, next_token)
        page = matching[start : start + limit]
        following = matching[start + limit : start + limit + 1]
        token = _token(following[0]) if following else None
        return [a.to_api() for a in page], token


def _token(activity: ScalingActivity) -> str:
    return base64.urlsafe_b64encode(activity.activity_id.encode()).decode("ascii")


def _page_start(activities: list[ScalingActivity], next_token: str | None) -> int:
    if not next_token:
        return 0
    try:
        activity_id = base64.urlsafe_b64decode(next_token.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        activity_id = ""
    for index, activity in enumerate(activities):
        if activity.activity_id == activity_id:
            return index
    raise InvalidNextToken(f"The token '{next_token}' is invalid.")
