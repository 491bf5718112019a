"""Turns one SQS record body into one typed, validated lifecycle message.

The same Auto Scaling event reaches the queue in several shapes (direct from the lifecycle hook, wrapped
in an SNS envelope, or as an EventBridge event), and the hook's test notification arrives on the same
queue (docs/aws-behaviour.md, "Lifecycle notifications"). Everything downstream should see one shape, so
all parsing and validation lives here, and any body we cannot trust raises ``MalformedMessage`` (never
anything else) with a reason precise enough to act on from a log line. Standard library only: this runs
on every cold start.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

LAUNCHING_TRANSITION = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING_TRANSITION = "autoscaling:EC2_INSTANCE_TERMINATING"
TEST_NOTIFICATION_EVENT = "autoscaling:TEST_NOTIFICATION"
# Auto Scaling's own notifications (PutNotificationConfiguration) carry an Event but no hook or token.
INSTANCE_LAUNCH_EVENT = "autoscaling:EC2_INSTANCE_LAUNCH"
EVENTBRIDGE_SOURCE = "aws.autoscaling"
EB_LAUNCH_LIFECYCLE = "EC2 Instance-launch Lifecycle Action"
EB_TERMINATE_LIFECYCLE = "EC2 Instance-terminate Lifecycle Action"
EB_LAUNCH_SUCCESSFUL = "EC2 Instance Launch Successful"
WARM_POOL = "WarmPool"
SNS_SUBSCRIPTION_TYPES = ("SubscriptionConfirmation", "UnsubscribeConfirmation")

_INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})",
    re.ASCII,
)
_SHOWN = 60  # longest value quoted back in a reason; bodies can be large and hostile


class MalformedMessage(ValueError):
    """The body is not a notification we can act on; retrying will not change that."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MessageKind(enum.Enum):
    """What the handler must do with the message."""

    LAUNCHING = "launching"  # a launch lifecycle action: name the instance, then complete the action
    LAUNCH_SUCCESSFUL = "launch_successful"  # instance already in service: name it, nothing to complete
    TEST_NOTIFICATION = "test_notification"  # sent when a hook is created or updated: acknowledge
    SNS_SUBSCRIPTION = "sns_subscription"  # an SNS topic's (un)subscription confirmation: acknowledge, warn
    OTHER_TRANSITION = "other_transition"  # not ours (e.g. terminating): acknowledge with a warning


class Envelope(enum.Enum):
    """How the notification travelled to the queue (outermost wrapper)."""

    DIRECT = "direct"
    SNS = "sns"
    EVENTBRIDGE = "eventbridge"


@dataclass(frozen=True)
class LifecycleAction:
    """The four facts CompleteLifecycleAction needs, none optional, so callers need no None checks."""

    asg_name: str
    hook_name: str
    token: str
    instance_id: str


@dataclass(frozen=True)
class LifecycleMessage:
    """One parsed notification. ``sent_at`` is timezone-aware UTC; fields a shape lacks are None."""

    kind: MessageKind
    envelope: Envelope
    asg_name: str | None = None
    instance_id: str | None = None
    hook_name: str | None = None
    token: str | None = None
    transition: str | None = None
    sent_at: datetime | None = None
    notification_metadata: str | None = None
    origin: str | None = None
    destination: str | None = None
    account_id: str | None = None
    region: str | None = None
    request_id: str | None = None
    detail_type: str | None = None
    topic_arn: str | None = None  # SNS envelopes only
    sns_type: str | None = None  # SNS_SUBSCRIPTION: SubscriptionConfirmation or UnsubscribeConfirmation
    subscribe_url: str | None = None  # SNS_SUBSCRIPTION: where to confirm

    def __post_init__(self) -> None:
        if self.kind is MessageKind.LAUNCHING and not (
            self.asg_name and self.hook_name and self.token and self.instance_id
        ):
            raise ValueError("a LAUNCHING message needs asg_name, hook_name, token and instance_id")
        if self.kind is MessageKind.LAUNCH_SUCCESSFUL and not (self.asg_name and self.instance_id):
            raise ValueError("a LAUNCH_SUCCESSFUL message needs asg_name and instance_id")

    @property
    def has_lifecycle_action(self) -> bool:
        """True when someone must call CompleteLifecycleAction for this message."""
        return self.kind is MessageKind.LAUNCHING

    @property
    def action(self) -> LifecycleAction | None:
        """The lifecycle action to complete, or None when there is none."""
        if self.kind is not MessageKind.LAUNCHING:
            return None
        # __post_init__ guarantees these are set for LAUNCHING; the checks only narrow the types.
        assert self.asg_name and self.hook_name and self.token and self.instance_id
        return LifecycleAction(self.asg_name, self.hook_name, self.token, self.instance_id)

    @property
    def into_warm_pool(self) -> bool:
        """The instance is being launched into a warm pool (it does not enter service yet)."""
        return self.destination == WARM_POOL

    @property
    def from_warm_pool(self) -> bool:
        """The instance leaves a warm pool for the group (it was launched, and maybe named, earlier)."""
        return self.origin == WARM_POOL

    def age_seconds(self, now: datetime) -> float | None:
        """Seconds since the event was sent, or None when the message carried no time."""
        if self.sent_at is None:
            return None
        return (now - self.sent_at).total_seconds()


def parse_message(body: str) -> LifecycleMessage:
    """Parse an SQS record body; raise MalformedMessage (only) when it is not a usable notification."""
    if not isinstance(body, str):
        raise MalformedMessage(f"body must be a string, got {type(body).__name__}")
    obj = _load_object(body, "body")
    if obj.get("Type") == "Notification":
        return _parse_sns(obj)
    if obj.get("Type") in SNS_SUBSCRIPTION_TYPES:
        return _parse_sns_subscription(obj)
    if "TopicArn" in obj and isinstance(obj.get("Type"), str):
        raise MalformedMessage(f"SNS message of Type {_show(obj['Type'])} is not a Notification")
    return _parse_unwrapped(obj, Envelope.DIRECT, prefix="")


def _parse_unwrapped(obj: dict[str, Any], envelope: Envelope, prefix: str) -> LifecycleMessage:
    if "detail-type" in obj or ("source" in obj and "detail" in obj):
        return _parse_eventbridge(obj, envelope, prefix)
    # Relays that marshal whole structs send an empty Event beside a LifecycleTransition: still a lifecycle action.
    if obj.get("Event") not in (None, "") or ("Event" in obj and "LifecycleTransition" not in obj):
        return _parse_asg_event(obj, envelope, prefix)
    if "LifecycleTransition" in obj:
        return _parse_direct(obj, envelope, prefix)
    keys = ", ".join(sorted(_show(k) for k in obj)[:12]) or "none"
    where = prefix.rstrip(".") or "top level"
    raise MalformedMessage(
        f"unknown shape at {where}: expected a lifecycle notification (LifecycleTransition),"
        f" a test notification (Event), an SNS envelope (Type=Notification) or an EventBridge event"
        f" (detail-type); keys: {keys}"
    )


def _parse_sns(obj: dict[str, Any]) -> LifecycleMessage:
    if "Message" not in obj:
        raise MalformedMessage("missing required field 'Message' in SNS envelope (Type=Notification)")
    inner_text = obj["Message"]
    if not isinstance(inner_text, str):
        raise MalformedMessage(f"SNS envelope field 'Message' must be a JSON string, got {_type(inner_text)}")
    inner = _load_object(inner_text, "SNS Message")
    if inner.get("Type") == "Notification":
        raise MalformedMessage("SNS Message is itself an SNS envelope; nested envelopes are not supported")
    message = _parse_unwrapped(inner, Envelope.SNS, prefix="Message.")
    if message.sent_at is None:
        sent_at = _opt_time(obj, "Timestamp", "")
        if sent_at is not None:
            message = replace(message, sent_at=sent_at)
    return message


def _parse_sns_subscription(obj: dict[str, Any]) -> LifecycleMessage:
    """An SNS topic subscribed to the queue (across accounts) asks to be confirmed: nothing to name."""
    return LifecycleMessage(
        kind=MessageKind.SNS_SUBSCRIPTION,
        envelope=Envelope.SNS,
        sns_type=_req_str(obj, "Type", ""),
        topic_arn=_req_str(obj, "TopicArn", ""),
        subscribe_url=_opt_str(obj, "SubscribeURL", ""),
        sent_at=_opt_time(obj, "Timestamp", ""),
    )


def _parse_direct(obj: dict[str, Any], envelope: Envelope, prefix: str) -> LifecycleMessage:
    transition = _req_str(obj, "LifecycleTransition", prefix)
    if not transition.startswith("autoscaling:"):
        raise MalformedMessage(f"field '{prefix}LifecycleTransition' is {_show(transition)}, not an autoscaling: one")
    fields = _common_lifecycle_fields(obj, prefix, launching=transition == LAUNCHING_TRANSITION)
    return LifecycleMessage(
        kind=MessageKind.LAUNCHING if transition == LAUNCHING_TRANSITION else MessageKind.OTHER_TRANSITION,
        envelope=envelope,
        transition=transition,
        sent_at=_opt_time(obj, "Time", prefix),
        account_id=_opt_str(obj, "AccountId", prefix),
        request_id=_opt_str(obj, "RequestId", prefix),
        **fields,
    )


def _parse_asg_event(obj: dict[str, Any], envelope: Envelope, prefix: str) -> LifecycleMessage:
    event = _req_str(obj, "Event", prefix)
    if event == TEST_NOTIFICATION_EVENT:
        kind = MessageKind.TEST_NOTIFICATION
    elif event == INSTANCE_LAUNCH_EVENT:
        kind = MessageKind.LAUNCH_SUCCESSFUL
    elif event.startswith("autoscaling:"):
        kind = MessageKind.OTHER_TRANSITION
    else:
        raise MalformedMessage(f"unknown shape: field '{prefix}Event' is {_show(event)}, not an autoscaling: event")
    required = kind is MessageKind.LAUNCH_SUCCESSFUL
    return LifecycleMessage(
        kind=kind,
        envelope=envelope,
        asg_name=_str_field(obj, "AutoScalingGroupName", prefix, required),
        instance_id=_instance_id(obj, "EC2InstanceId", prefix, required),
        transition=event if kind is MessageKind.OTHER_TRANSITION else None,
        sent_at=_opt_time(obj, "Time", prefix),
        account_id=_opt_str(obj, "AccountId", prefix),
        request_id=_opt_str(obj, "RequestId", prefix),
        origin=_opt_str(obj, "Origin", prefix),
        destination=_opt_str(obj, "Destination", prefix),
    )


def _parse_eventbridge(obj: dict[str, Any], envelope: Envelope, outer: str) -> LifecycleMessage:
    source = _req_str(obj, "source", outer)
    if source != EVENTBRIDGE_SOURCE:
        raise MalformedMessage(f"unknown shape: EventBridge {outer}source is {_show(source)}, not {EVENTBRIDGE_SOURCE}")
    detail_type = _req_str(obj, "detail-type", outer)
    detail = obj.get("detail")
    if not isinstance(detail, dict):
        raise MalformedMessage(f"field '{outer}detail' must be an object, got {_type(detail)}")
    prefix = f"{outer}detail."
    envelope = Envelope.EVENTBRIDGE if envelope is Envelope.DIRECT else envelope
    common: dict[str, Any] = {
        "envelope": envelope,
        "detail_type": detail_type,
        "account_id": _opt_str(obj, "account", outer),
        "region": _opt_str(obj, "region", outer),
        "sent_at": _opt_time(obj, "time", outer),
    }
    if detail_type in (EB_LAUNCH_LIFECYCLE, EB_TERMINATE_LIFECYCLE):
        expected = LAUNCHING_TRANSITION if detail_type == EB_LAUNCH_LIFECYCLE else TERMINATING_TRANSITION
        transition = _opt_str(detail, "LifecycleTransition", prefix) or expected
        if transition != expected:
            raise MalformedMessage(
                f"field '{prefix}LifecycleTransition' is {_show(transition)} but detail-type is {_show(detail_type)}"
            )
        launching = transition == LAUNCHING_TRANSITION
        return LifecycleMessage(
            kind=MessageKind.LAUNCHING if launching else MessageKind.OTHER_TRANSITION,
            transition=transition,
            **_common_lifecycle_fields(detail, prefix, launching=launching),
            **common,
        )
    if detail_type == EB_LAUNCH_SUCCESSFUL:
        if common["sent_at"] is None:
            common["sent_at"] = _opt_time(detail, "StartTime", prefix)
        return LifecycleMessage(
            kind=MessageKind.LAUNCH_SUCCESSFUL,
            asg_name=_req_str(detail, "AutoScalingGroupName", prefix),
            instance_id=_instance_id(detail, "EC2InstanceId", prefix, required=True),
            request_id=_opt_str(detail, "RequestId", prefix),
            origin=_opt_str(detail, "Origin", prefix),
            destination=_opt_str(detail, "Destination", prefix),
            **common,
        )
    # Any other Auto Scaling event (terminate successful, launch unsuccessful, ...) is not ours.
    return LifecycleMessage(
        kind=MessageKind.OTHER_TRANSITION,
        asg_name=_opt_str(detail, "AutoScalingGroupName", prefix),
        instance_id=_instance_id(detail, "EC2InstanceId", prefix, required=False),
        **common,
    )


def _common_lifecycle_fields(obj: dict[str, Any], prefix: str, *, launching: bool) -> dict[str, Any]:
    """Fields shared by direct and EventBridge lifecycle actions; a launch must carry all four ids."""
    return {
        "asg_name": _str_field(obj, "AutoScalingGroupName", prefix, launching),
        "hook_name": _str_field(obj, "LifecycleHookName", prefix, launching),
        "token": _str_field(obj, "LifecycleActionToken", prefix, launching),
        "instance_id": _instance_id(obj, "EC2InstanceId", prefix, launching),
        "notification_metadata": _metadata(obj, "NotificationMetadata", prefix),
        "origin": _opt_str(obj, "Origin", prefix),
        "destination": _opt_str(obj, "Destination", prefix),
    }


def _metadata(obj: dict[str, Any], key: str, prefix: str) -> str | None:
    """NotificationMetadata as text: EventBridge delivers JSON metadata as an object (``{}`` too), the other
    shapes as a string; an object is kept as its compact JSON so the message stays one immutable shape."""
    value = obj.get(key)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return _opt_str(obj, key, prefix, allow_empty=True)


def _load_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except RecursionError:
        raise MalformedMessage(f"{what} is not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and int-too-long ValueErrors from huge numbers
        raise MalformedMessage(f"{what} is not JSON: {str(exc)[: _SHOWN * 2]}") from None
    if not isinstance(value, dict):
        raise MalformedMessage(f"{what} must be a JSON object, got {_type(value)}")
    return value


def _str_field(obj: dict[str, Any], key: str, prefix: str, required: bool) -> str | None:
    return _req_str(obj, key, prefix) if required else _opt_str(obj, key, prefix)


def _req_str(obj: dict[str, Any], key: str, prefix: str) -> str:
    if key not in obj or obj[key] is None:
        raise MalformedMessage(f"missing required field '{prefix}{key}'")
    value = _opt_str(obj, key, prefix)
    if value is None:  # empty strings come back as None from _opt_str
        raise MalformedMessage(f"required field '{prefix}{key}' is empty")
    return value


def _opt_str(obj: dict[str, Any], key: str, prefix: str, *, allow_empty: bool = False) -> str | None:
    """The string at key; None when absent, null or blank (unless allow_empty); wrong type is malformed."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedMessage(f"field '{prefix}{key}' must be a string, got {_type(value)}")
    if not allow_empty and not value.strip():
        return None
    return value


def _instance_id(obj: dict[str, Any], key: str, prefix: str, required: bool) -> str | None:
    value = _str_field(obj, key, prefix, required)
    if value is not None and not _INSTANCE_ID.fullmatch(value):
        raise MalformedMessage(
            f"field '{prefix}{key}' is {_show(value)}, not an instance id (i- and 8 or 17 lowercase hex digits)"
        )
    return value


def _opt_time(obj: dict[str, Any], key: str, prefix: str) -> datetime | None:
    value = _opt_str(obj, key, prefix)
    return None if value is None else parse_timestamp(value, f"{prefix}{key}")


def parse_timestamp(value: str, field: str = "timestamp") -> datetime:
    """ISO 8601 as AWS writes it (``2021-01-19T00:36:26.533Z``), returned as aware UTC."""
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise MalformedMessage(f"field '{field}' is {_show(value)}, not an ISO 8601 time with a zone")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "0").ljust(6, "0")[:6])
    zone = match.group(8)
    try:
        offset = timedelta(0) if zone == "Z" else _offset(zone)
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(offset))
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise MalformedMessage(f"field '{field}' is {_show(value)}: {exc}") from None


def _offset(zone: str) -> timedelta:
    sign = -1 if zone[0] == "-" else 1
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes >= 60:
        raise ValueError("zone minutes out of range")
    return sign * timedelta(hours=hours, minutes=minutes)


def _type(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


def _show(value: str) -> str:
    shown = repr(value)
    return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 4] + "...'"
