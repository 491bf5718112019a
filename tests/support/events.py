"""Messages and events shaped exactly like AWS's documented ones, for unit and integration tests.

Each factory fills realistic defaults (fresh instance id and token, current time) and takes overrides.
Raw AWS field names override fields as they are (``EC2InstanceId="i-..."``); the value ``OMIT`` removes
a field, so tests can build every malformed variant from a valid message.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
ASG_NAME = "my-asg"
HOOK_NAME = "my-launch-hook"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
TEST_NOTIFICATION = "autoscaling:TEST_NOTIFICATION"
EB_LAUNCH_LIFECYCLE = "EC2 Instance-launch Lifecycle Action"
EB_TERMINATE_LIFECYCLE = "EC2 Instance-terminate Lifecycle Action"
EB_LAUNCH_SUCCESSFUL = "EC2 Instance Launch Successful"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:asg-namer-lifecycle"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:asg-lifecycle"


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


def new_instance_id() -> str:
    """A current-format instance id: i- and 17 lowercase hex digits."""
    return "i-" + secrets.token_hex(9)[:17]


def new_token() -> str:
    return str(uuid.uuid4())


def aws_time(moment: datetime | None = None, *, millis: bool = True) -> str:
    """Time as Auto Scaling writes it (``2021-01-19T00:36:26.533Z``); EventBridge omits the millis."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}Z" if millis else f"{text}Z"


def asg_arn(asg_name: str = ASG_NAME, region: str = REGION, account_id: str = ACCOUNT_ID) -> str:
    return f"arn:aws:autoscaling:{region}:{account_id}:autoScalingGroup:{uuid.uuid4()}:autoScalingGroupName/{asg_name}"


def _with(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**base, **overrides}
    return {key: value for key, value in merged.items() if value is not OMIT}


def _when(time: datetime | str | None, *, millis: bool = True) -> str:
    return time if isinstance(time, str) else aws_time(time, millis=millis)


def lifecycle_message(
    *,
    instance_id: str | None = None,
    asg_name: str = ASG_NAME,
    hook_name: str = HOOK_NAME,
    token: str | None = None,
    transition: str = LAUNCHING,
    time: datetime | str | None = None,
    metadata: str | None = None,
    origin: str = "EC2",
    destination: str = "AutoScalingGroup",
    account_id: str = ACCOUNT_ID,
    **fields: Any,
) -> dict[str, Any]:
    """The flat notification a lifecycle hook sends straight to SQS (NotificationMetadata only when set)."""
    base = {
        "Origin": origin,
        "Destination": destination,
        "LifecycleHookName": hook_name,
        "AccountId": account_id,
        "RequestId": str(uuid.uuid4()),
        "LifecycleTransition": transition,
        "AutoScalingGroupName": asg_name,
        "Service": "AWS Auto Scaling",
        "Time": _when(time),
        "EC2InstanceId": instance_id or new_instance_id(),
        "LifecycleActionToken": token or new_token(),
    }
    if metadata is not None:
        base["NotificationMetadata"] = metadata
    return _with(base, fields)


def lifecycle_body(**kwargs: Any) -> str:
    """``lifecycle_message(...)`` as the SQS body string."""
    return json.dumps(lifecycle_message(**kwargs))


def test_notification_message(
    *, asg_name: str = ASG_NAME, account_id: str = ACCOUNT_ID, time: datetime | str | None = None, **fields: Any
) -> dict[str, Any]:
    """What the ASG sends when a hook with a notification target is created or updated."""
    base = {
        "AccountId": account_id,
        "RequestId": str(uuid.uuid4()),
        "AutoScalingGroupARN": asg_arn(asg_name, account_id=account_id),
        "AutoScalingGroupName": asg_name,
        "Service": "AWS Auto Scaling",
        "Event": TEST_NOTIFICATION,
        "Time": _when(time),
    }
    return _with(base, fields)


def test_notification(**kwargs: Any) -> str:
    """``test_notification_message(...)`` as the SQS body string."""
    return json.dumps(test_notification_message(**kwargs))


# pytest must not collect the two factories above as tests.
test_notification_message.__test__ = False  # type: ignore[attr-defined]
test_notification.__test__ = False  # type: ignore[attr-defined]


def sns_envelope(
    inner: str | Mapping[str, Any],
    *,
    topic_arn: str = TOPIC_ARN,
    time: datetime | str | None = None,
    subject: str = "Auto Scaling:  Lifecycle action 'LAUNCHING'",
    **fields: Any,
) -> str:
    """The SQS body when the notification went through SNS with raw message delivery off."""
    message = inner if isinstance(inner, str) else json.dumps(inner)
    message_id = str(uuid.uuid4())
    base = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic_arn,
        "Subject": subject,
        "Message": message,
        "Timestamp": _when(time),
        "SignatureVersion": "1",
        "Signature": secrets.token_urlsafe(64),
        "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0000000000.pem",
        "UnsubscribeURL": (
            f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:{uuid.uuid4()}"
        ),
    }
    return json.dumps(_with(base, fields))


def sns_subscription_confirmation(*, topic_arn: str = TOPIC_ARN, **fields: Any) -> str:
    """What SNS puts on a queue when a topic (often in another account) is subscribed to it."""
    token = secrets.token_hex(64)
    base = {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": token,
        "TopicArn": topic_arn,
        "Message": f"You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, visit the"
        " SubscribeURL included in this message.",
        "SubscribeURL": (
            f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}"
        ),
        "Timestamp": _when(None),
        "SignatureVersion": "1",
        "Signature": secrets.token_urlsafe(64),
        "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0000000000.pem",
    }
    return json.dumps(_with(base, fields))


def eventbridge_event(
    detail_type: str,
    detail: Mapping[str, Any],
    *,
    resources: list[str],
    time: datetime | str | None = None,
    region: str = REGION,
    account_id: str = ACCOUNT_ID,
    event_fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An EventBridge event from Auto Scaling, as a rule with an SQS target delivers it."""
    base = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.autoscaling",
        "account": account_id,
        "time": _when(time, millis=False),
        "region": region,
        "resources": resources,
        "detail": dict(detail),
    }
    return _with(base, event_fields or {})


def eventbridge_lifecycle(
    *,
    instance_id: str | None = None,
    asg_name: str = ASG_NAME,
    hook_name: str = HOOK_NAME,
    token: str | None = None,
    transition: str = LAUNCHING,
    metadata: str | None = None,
    origin: str = "EC2",
    destination: str = "AutoScalingGroup",
    time: datetime | str | None = None,
    region: str = REGION,
    event_fields: Mapping[str, Any] | None = None,
    **detail_fields: Any,
) -> str:
    """``EC2 Instance-launch/-terminate Lifecycle Action``; ``detail_fields`` override keys of detail."""
    detail = {
        "LifecycleActionToken": token or new_token(),
        "AutoScalingGroupName": asg_name,
        "LifecycleHookName": hook_name,
        "EC2InstanceId": instance_id or new_instance_id(),
        "LifecycleTransition": transition,
        "Origin": origin,
        "Destination": destination,
    }
    if metadata is not None:
        detail["NotificationMetadata"] = metadata
    detail_type = EB_LAUNCH_LIFECYCLE if transition == LAUNCHING else EB_TERMINATE_LIFECYCLE
    event = eventbridge_event(
        detail_type,
        _with(detail, detail_fields),
        resources=[asg_arn(asg_name, region)],
        time=time,
        region=region,
        event_fields=event_fields,
    )
    return json.dumps(event)


def eventbridge_launch_successful(
    *,
    instance_id: str | None = None,
    asg_name: str = ASG_NAME,
    az: str = "us-east-1a",
    subnet_id: str = "subnet-0123456789abcdef0",
    time: datetime | str | None = None,
    region: str = REGION,
    event_fields: Mapping[str, Any] | None = None,
    **detail_fields: Any,
) -> str:
    """``EC2 Instance Launch Successful``: the instance is in service, there is no action to complete."""
    instance_id = instance_id or new_instance_id()
    activity = str(uuid.uuid4())
    end = _when(time)
    detail = {
        "StatusCode": "InProgress",
        "AutoScalingGroupName": asg_name,
        "ActivityId": activity,
        "Details": {"Availability Zone": az, "Subnet ID": subnet_id},
        "RequestId": activity,
        "EndTime": end,
        "EC2InstanceId": instance_id,
        "StartTime": end,
        "Cause": f"At {end} an instance was started in response to a difference between desired and actual capacity",
    }
    event = eventbridge_event(
        EB_LAUNCH_SUCCESSFUL,
        _with(detail, detail_fields),
        resources=[asg_arn(asg_name, region), f"arn:aws:ec2:{region}:{ACCOUNT_ID}:instance/{instance_id}"],
        time=time,
        region=region,
        event_fields=event_fields,
    )
    return json.dumps(event)


def sqs_record(
    body: str,
    *,
    message_id: str | None = None,
    receive_count: int = 1,
    queue_arn: str = QUEUE_ARN,
    sent_at: datetime | None = None,
) -> dict[str, Any]:
    """One record of the event Lambda's SQS event source mapping passes to the function."""
    sent_ms = str(int((sent_at or datetime.now(UTC)).timestamp() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + secrets.token_urlsafe(96),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": sent_ms,
            "SenderId": "AROAEXAMPLEROLEID:AutoScaling",
            "ApproximateFirstReceiveTimestamp": sent_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def sqs_event(*records: Mapping[str, Any]) -> dict[str, Any]:
    """The whole event: ``{"Records": [...]}``."""
    return {"Records": [dict(record) for record in records]}


def scheduled_event(*, rule: str = "asg-namer-sweep", time: datetime | str | None = None) -> dict[str, Any]:
    """What an EventBridge schedule passes to the function it invokes (no Records)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": _when(time, millis=False),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }
