"""Parsing SQS bodies into lifecycle messages: every documented shape, every way to be malformed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler.messages import (
    Envelope,
    LifecycleAction,
    LifecycleMessage,
    MalformedMessage,
    MessageKind,
    parse_message,
)
from tests.support import events as f

FIXTURES = Path(__file__).parent / "fixtures"
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def malformed_reason(body: str) -> str:
    with pytest.raises(MalformedMessage) as caught:
        parse_message(body)
    return caught.value.reason


# --- documented shapes -------------------------------------------------------------------------------


def test_direct_launching_fixture_parses_every_field() -> None:
    # GIVEN the documented direct-to-SQS launch notification
    body = fixture("direct_launching.json")
    # WHEN it is parsed
    message = parse_message(body)
    # THEN every field is carried over, typed, and the lifecycle action is complete
    assert message.kind is MessageKind.LAUNCHING
    assert message.envelope is Envelope.DIRECT
    assert message.action == LifecycleAction(
        asg_name="my-asg",
        hook_name="my-launch-hook",
        token="71514b9d-6a40-4b26-8523-05e7eEXAMPLE",
        instance_id="i-0598c7d356eba48d7",
    )
    assert message.has_lifecycle_action
    assert message.transition == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert message.sent_at == datetime(2021, 1, 19, 0, 36, 26, 533000, tzinfo=UTC)
    assert message.notification_metadata == '{"asg-namer:name-template": "{asg}-{ip3}-{ip4}"}'
    assert (message.origin, message.destination) == ("EC2", "AutoScalingGroup")
    assert message.account_id == "123456789012"
    assert message.request_id == "63f5b5c2-58b3-0574-b7d5-b3162d0268f0"
    assert message.region is None
    assert not message.into_warm_pool and not message.from_warm_pool


def test_test_notification_fixture_is_recognised() -> None:
    # GIVEN the test message an ASG sends when a hook gets a notification target
    # WHEN it is parsed
    message = parse_message(fixture("test_notification.json"))
    # THEN it is a test notification with nothing to complete
    assert message.kind is MessageKind.TEST_NOTIFICATION
    assert message.asg_name == "my-asg"
    assert message.action is None and not message.has_lifecycle_action
    assert message.instance_id is None and message.token is None
    assert message.sent_at == datetime(2021, 1, 19, 0, 35, 52, 359000, tzinfo=UTC)


def test_sns_wrapped_test_notification_fixture() -> None:
    # GIVEN a test notification that went through SNS
    # WHEN it is parsed
    message = parse_message(fixture("sns_test_notification.json"))
    # THEN the inner message decides the kind and the envelope is remembered
    assert message.kind is MessageKind.TEST_NOTIFICATION
    assert message.envelope is Envelope.SNS
    assert message.asg_name == "my-asg"


def test_eventbridge_launch_lifecycle_fixture_from_warm_pool() -> None:
    # GIVEN an EventBridge launch lifecycle action for an instance leaving a warm pool
    # WHEN it is parsed
    message = parse_message(fixture("eventbridge_launch_lifecycle.json"))
    # THEN it is a launch to complete, with region, account, time and warm-pool direction
    assert message.kind is MessageKind.LAUNCHING
    assert message.envelope is Envelope.EVENTBRIDGE
    assert message.action == LifecycleAction(
        "my-asg", "my-launch-hook", "0befc5a5-8bd7-4a4c-9a0e-6f8d0ac4e0a9", "i-1234567890abcdef0"
    )
    assert message.region == "us-west-2"
    assert message.account_id == "123456789012"
    assert message.sent_at == datetime(2021, 1, 13, 0, 12, 48, tzinfo=UTC)
    assert message.notification_metadata == "owner=platform"
    assert message.from_warm_pool and not message.into_warm_pool
    assert message.detail_type == "EC2 Instance-launch Lifecycle Action"


def test_eventbridge_launch_successful_fixture_has_no_action() -> None:
    # GIVEN an EventBridge "EC2 Instance Launch Successful" event (8-hex legacy instance id)
    # WHEN it is parsed
    message = parse_message(fixture("eventbridge_launch_successful.json"))
    # THEN the instance is to be named, but there is no lifecycle action to complete
    assert message.kind is MessageKind.LAUNCH_SUCCESSFUL
    assert message.instance_id == "i-b188560f"
    assert message.asg_name == "my-asg"
    assert message.action is None and message.hook_name is None and message.token is None
    assert message.sent_at == datetime(2021, 1, 13, 0, 15, 2, tzinfo=UTC)
    assert message.region == "us-west-2"


def test_sqs_event_fixture_body_parses() -> None:
    # GIVEN Lambda's SQS event with one lifecycle notification
    event = json.loads(fixture("sqs_event.json"))
    # WHEN its record body is parsed
    message = parse_message(event["Records"][0]["body"])
    # THEN it is the launch of the documented instance
    assert message.instance_id == "i-0598c7d356eba48d7"
    assert message.kind is MessageKind.LAUNCHING


def test_factory_direct_message_round_trips() -> None:
    # GIVEN a direct notification built by the factory with known values
    instance_id, token = f.new_instance_id(), f.new_token()
    moment = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    body = f.lifecycle_body(instance_id=instance_id, token=token, asg_name="web", hook_name="h", time=moment)
    # WHEN it is parsed
    message = parse_message(body)
    # THEN the values come back unchanged
    assert message.action == LifecycleAction("web", "h", token, instance_id)
    assert message.sent_at == moment
    assert message.notification_metadata is None


def test_sns_wrapped_lifecycle_message() -> None:
    # GIVEN a launch notification inside an SNS envelope
    instance_id = f.new_instance_id()
    body = f.sns_envelope(f.lifecycle_message(instance_id=instance_id))
    # WHEN it is parsed
    message = parse_message(body)
    # THEN it is the same launch, marked as having come through SNS
    assert message.kind is MessageKind.LAUNCHING
    assert message.envelope is Envelope.SNS
    assert message.instance_id == instance_id


def test_sns_envelope_timestamp_is_used_when_inner_has_no_time() -> None:
    # GIVEN an SNS-wrapped launch whose inner message lacks Time
    inner = f.lifecycle_message(Time=f.OMIT)
    body = f.sns_envelope(inner, time="2022-02-03T04:05:06.789Z")
    # WHEN it is parsed
    message = parse_message(body)
    # THEN the envelope's Timestamp stands in
    assert message.sent_at == datetime(2022, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)


def test_eventbridge_event_through_sns() -> None:
    # GIVEN an EventBridge launch lifecycle event delivered through an SNS topic
    body = f.sns_envelope(f.eventbridge_lifecycle(region="eu-west-1"))
    # WHEN it is parsed
    message = parse_message(body)
    # THEN it is a launch with EventBridge's region, and the outer envelope is SNS
    assert message.kind is MessageKind.LAUNCHING
    assert message.envelope is Envelope.SNS
    assert message.region == "eu-west-1"


@pytest.mark.parametrize(
    ("origin", "destination", "into", "out_of"),
    [("EC2", "WarmPool", True, False), ("WarmPool", "AutoScalingGroup", False, True)],
)
def test_warm_pool_launches_are_lifecycle_actions(origin: str, destination: str, into: bool, out_of: bool) -> None:
    # GIVEN a launch hook message for a warm-pool transition
    body = f.lifecycle_body(origin=origin, destination=destination)
    # WHEN it is parsed
    message = parse_message(body)
    # THEN it is a launch to complete, and the handler can tell the direction
    assert message.kind is MessageKind.LAUNCHING
    assert (message.into_warm_pool, message.from_warm_pool) == (into, out_of)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f.lifecycle_body(transition=f.TERMINATING), id="direct-terminating"),
        pytest.param(f.eventbridge_lifecycle(transition=f.TERMINATING), id="eventbridge-terminate-lifecycle"),
        pytest.param(f.sns_envelope(f.lifecycle_message(transition=f.TERMINATING)), id="sns-terminating"),
        pytest.param(
            json.dumps(
                f.eventbridge_event("EC2 Instance Terminate Successful", {"AutoScalingGroupName": "a"}, resources=[])
            ),
            id="eventbridge-terminate-successful",
        ),
        pytest.param(
            json.dumps(f.test_notification_message(Event="autoscaling:EC2_INSTANCE_TERMINATE")),
            id="asg-notification-terminate",
        ),
    ],
)
def test_non_launch_transitions_are_other_transitions(body: str) -> None:
    # GIVEN a notification about something other than a launch
    # WHEN it is parsed
    message = parse_message(body)
    # THEN it is acknowledged as another transition: nothing to name, nothing of ours to complete
    assert message.kind is MessageKind.OTHER_TRANSITION
    assert message.action is None


def test_terminating_transition_needs_no_token() -> None:
    # GIVEN a terminating notification without a token (we would never complete it anyway)
    body = f.lifecycle_body(transition=f.TERMINATING, LifecycleActionToken=f.OMIT)
    # WHEN it is parsed
    message = parse_message(body)
    # THEN it still parses as another transition
    assert message.kind is MessageKind.OTHER_TRANSITION
    assert message.transition == f.TERMINATING


def test_asg_instance_launch_notification_is_launch_successful() -> None:
    # GIVEN Auto Scaling's own launch notification (PutNotificationConfiguration), which has no hook
    instance_id = f.new_instance_id()
    body = json.dumps(f.test_notification_message(Event="autoscaling:EC2_INSTANCE_LAUNCH", EC2InstanceId=instance_id))
    # WHEN it is parsed
    message = parse_message(body)
    # THEN it is an in-service instance to name, without a lifecycle action
    assert message.kind is MessageKind.LAUNCH_SUCCESSFUL
    assert message.instance_id == instance_id


def test_time_with_offset_is_normalised_to_utc() -> None:
    # GIVEN a time written with a +02:00 offset and nanoseconds
    body = f.lifecycle_body(time="2021-01-19T02:36:26.123456789+02:00")
    # WHEN it is parsed
    message = parse_message(body)
    # THEN sent_at is the same instant in UTC, truncated to microseconds
    assert message.sent_at == datetime(2021, 1, 19, 0, 36, 26, 123456, tzinfo=UTC)
    assert message.sent_at is not None and message.sent_at.utcoffset() is not None


def test_age_seconds() -> None:
    # GIVEN a message sent at a known time
    message = parse_message(f.lifecycle_body(time="2021-01-19T00:00:00Z"))
    # WHEN its age is asked one minute later
    # THEN it is 60 seconds
    assert message.age_seconds(datetime(2021, 1, 19, 0, 1, tzinfo=UTC)) == 60.0


def test_launching_message_cannot_be_built_without_its_ids() -> None:
    # GIVEN / WHEN a LAUNCHING message is constructed by hand without a token
    # THEN construction fails: a LAUNCHING message always has a complete action
    with pytest.raises(ValueError, match="LAUNCHING"):
        LifecycleMessage(MessageKind.LAUNCHING, Envelope.DIRECT, asg_name="a", hook_name="h", instance_id="i-12345678")


# --- malformed bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("", "body is not JSON", id="empty"),
        pytest.param("hello", "body is not JSON", id="text"),
        pytest.param("[" * 100_000, "body is not JSON", id="deep-nesting"),
        pytest.param('{"Time": ' + "1" * 5000 + "}", "body is not JSON", id="huge-integer"),
        pytest.param("[1, 2]", "body must be a JSON object, got array", id="array"),
        pytest.param('"a string"', "body must be a JSON object, got string", id="string"),
        pytest.param("null", "body must be a JSON object, got null", id="null"),
        pytest.param("{}", "unknown shape", id="empty-object"),
        pytest.param('{"foo": 1}', "keys: 'foo'", id="unknown-keys"),
    ],
)
def test_bodies_that_are_not_notifications(body: str, expected: str) -> None:
    # GIVEN a body that is not a notification at all
    # WHEN it is parsed
    # THEN the reason says why
    assert expected in malformed_reason(body)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"EC2InstanceId": f.OMIT}, "missing required field 'EC2InstanceId'"),
        ({"LifecycleActionToken": f.OMIT}, "missing required field 'LifecycleActionToken'"),
        ({"LifecycleHookName": None}, "missing required field 'LifecycleHookName'"),
        ({"AutoScalingGroupName": ""}, "required field 'AutoScalingGroupName' is empty"),
        ({"LifecycleActionToken": "   "}, "required field 'LifecycleActionToken' is empty"),
        ({"EC2InstanceId": 42}, "field 'EC2InstanceId' must be a string, got number"),
        ({"AutoScalingGroupName": ["a"]}, "field 'AutoScalingGroupName' must be a string, got array"),
        ({"NotificationMetadata": 7}, "field 'NotificationMetadata' must be a string, got number"),
        ({"Origin": True}, "field 'Origin' must be a string, got boolean"),
        ({"EC2InstanceId": "i-123"}, "not an instance id"),
        ({"EC2InstanceId": "i-0598C7D356EBA48D7"}, "not an instance id"),
        ({"EC2InstanceId": "i-0598c7d356eba48d"}, "not an instance id"),
        ({"EC2InstanceId": "x-0598c7d356eba48d7"}, "not an instance id"),
        ({"Time": "yesterday"}, "field 'Time' is 'yesterday', not an ISO 8601 time"),
        ({"Time": "2021-01-19T00:36:26"}, "not an ISO 8601 time with a zone"),
        ({"Time": "2021-13-19T00:36:26Z"}, "month must be in 1..12"),
        ({"Time": "2021-01-19T00:36:26+02:99"}, "zone minutes out of range"),
        ({"LifecycleTransition": ""}, "required field 'LifecycleTransition' is empty"),
        ({"LifecycleTransition": "launching"}, "not an autoscaling: one"),
    ],
)
def test_direct_message_field_errors_name_the_field(overrides: dict[str, Any], expected: str) -> None:
    # GIVEN a direct launch notification with one bad field
    body = f.lifecycle_body(**overrides)
    # WHEN it is parsed
    # THEN the reason names the field and the problem
    assert expected in malformed_reason(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param('{"Type": "Notification"}', "missing required field 'Message' in SNS envelope", id="no-message"),
        pytest.param(
            f.sns_envelope("", Type="UnknownControlMessage"),
            "SNS message of Type 'UnknownControlMessage' is not a Notification",
            id="unknown-sns-type",
        ),
        pytest.param(f.sns_envelope("", Message={"a": 1}), "'Message' must be a JSON string, got object", id="object"),
        pytest.param(f.sns_envelope("not json"), "SNS Message is not JSON", id="not-json"),
        pytest.param(f.sns_envelope("[]"), "SNS Message must be a JSON object, got array", id="array"),
        pytest.param(f.sns_envelope(f.sns_envelope(f.lifecycle_message())), "nested", id="nested"),
        pytest.param(
            f.sns_envelope(f.lifecycle_message(EC2InstanceId=f.OMIT)),
            "missing required field 'Message.EC2InstanceId'",
            id="inner-field",
        ),
        pytest.param(
            f.sns_envelope(f.lifecycle_message(Time=f.OMIT), time="bad"), "field 'Timestamp'", id="bad-timestamp"
        ),
    ],
)
def test_sns_envelope_errors(body: str, expected: str) -> None:
    # GIVEN a broken SNS envelope
    # WHEN it is parsed
    # THEN the reason points into the envelope
    assert expected in malformed_reason(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            f.eventbridge_lifecycle(event_fields={"source": "aws.ec2"}), "'aws.ec2', not aws.autoscaling", id="source"
        ),
        pytest.param(f.eventbridge_lifecycle(event_fields={"detail": "x"}), "'detail' must be an object", id="detail"),
        pytest.param(
            f.eventbridge_lifecycle(EC2InstanceId=f.OMIT), "missing required field 'detail.EC2InstanceId'", id="iid"
        ),
        pytest.param(
            f.eventbridge_lifecycle(LifecycleTransition=f.TERMINATING),
            "but detail-type is",
            id="contradiction",
        ),
        pytest.param(f.eventbridge_lifecycle(event_fields={"time": "noon"}), "field 'time'", id="time"),
        pytest.param(f.eventbridge_lifecycle(event_fields={"region": 1}), "field 'region' must be a string", id="rg"),
        pytest.param(
            f.eventbridge_launch_successful(AutoScalingGroupName=f.OMIT),
            "missing required field 'detail.AutoScalingGroupName'",
            id="successful-no-asg",
        ),
        pytest.param(
            f.eventbridge_launch_successful(EC2InstanceId="i-zz"), "'detail.EC2InstanceId'", id="successful-bad-id"
        ),
    ],
)
def test_eventbridge_errors(body: str, expected: str) -> None:
    # GIVEN a broken EventBridge event
    # WHEN it is parsed
    # THEN the reason names the field inside the event
    assert expected in malformed_reason(body)


def test_eventbridge_lifecycle_without_transition_takes_it_from_detail_type() -> None:
    # GIVEN an EventBridge launch lifecycle event whose detail omits LifecycleTransition
    body = f.eventbridge_lifecycle(LifecycleTransition=f.OMIT)
    # WHEN it is parsed
    message = parse_message(body)
    # THEN the detail-type says it is a launch
    assert message.kind is MessageKind.LAUNCHING
    assert message.transition == f.LAUNCHING


def test_test_notification_with_unknown_event_prefix_is_malformed() -> None:
    # GIVEN a body with an Event that is not an autoscaling: event
    body = json.dumps(f.test_notification_message(Event="s3:ObjectCreated:Put"))
    # WHEN it is parsed
    # THEN it is malformed, naming the Event field
    assert "field 'Event'" in malformed_reason(body)


def test_long_values_are_shortened_in_reasons() -> None:
    # GIVEN an instance id field holding a huge string
    body = f.lifecycle_body(EC2InstanceId="x" * 100_000)
    # WHEN it is parsed
    reason = malformed_reason(body)
    # THEN the reason stays short enough for a log line
    assert len(reason) < 300


# --- properties ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = [
    "Origin", "Destination", "LifecycleHookName", "AccountId", "LifecycleTransition", "AutoScalingGroupName",
    "Time", "EC2InstanceId", "LifecycleActionToken", "NotificationMetadata", "Event", "Type", "Message",
    "detail-type", "source", "detail", "time", "region", "account", "StartTime", "Timestamp",
]  # fmt: skip
interesting_values = st.sampled_from(
    [
        "", " ", "i-12345678", "i-1234567890abcdef0", "autoscaling:EC2_INSTANCE_LAUNCHING", "Notification",
        "aws.autoscaling", f.EB_LAUNCH_LIFECYCLE, f.EB_LAUNCH_SUCCESSFUL, f.TEST_NOTIFICATION, "2021-01-19T00:36:26Z",
        "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "{}", "[]", "null",
    ]
) | json_values  # fmt: skip


def valid_bodies() -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            f.lifecycle_body(),
            f.lifecycle_body(metadata='{"asg-namer:name-template": "{asg}"}'),
            f.lifecycle_body(transition=f.TERMINATING),
            f.test_notification(),
            f.sns_envelope(f.lifecycle_message()),
            f.sns_envelope(f.test_notification_message()),
            f.eventbridge_lifecycle(),
            f.eventbridge_lifecycle(transition=f.TERMINATING),
            f.eventbridge_launch_successful(),
        ]
    )


def assert_parses_or_is_malformed(body: str) -> None:
    try:
        message = parse_message(body)
    except MalformedMessage as error:
        assert error.reason
        return
    assert isinstance(message, LifecycleMessage)
    if message.kind is MessageKind.LAUNCHING:
        assert message.action is not None
    if message.sent_at is not None:
        assert message.sent_at.utcoffset() is not None


@PROPERTY
@given(st.text())
def test_arbitrary_text_only_ever_raises_malformed(body: str) -> None:
    # GIVEN any text / WHEN parsed / THEN a message or MalformedMessage, nothing else
    assert_parses_or_is_malformed(body)


@PROPERTY
@given(json_values)
def test_arbitrary_json_only_ever_raises_malformed(value: Any) -> None:
    # GIVEN any JSON value / WHEN parsed / THEN a message or MalformedMessage, nothing else
    assert_parses_or_is_malformed(json.dumps(value))


@st.composite
def mutated_bodies(draw: st.DrawFn) -> str:
    """A valid body with fields deleted or replaced, at the top, inside detail, or inside SNS Message."""
    obj = json.loads(draw(valid_bodies()))
    target = obj
    if "detail" in obj and isinstance(obj["detail"], dict) and draw(st.booleans()):
        target = obj["detail"]
    inner = None
    if obj.get("Type") == "Notification" and draw(st.booleans()):
        inner = json.loads(obj["Message"])
        target = inner
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(sorted(target) + FIELD_NAMES))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(interesting_values)
    if inner is not None:
        obj["Message"] = json.dumps(inner)
    return json.dumps(obj)


@PROPERTY
@given(mutated_bodies())
def test_mutated_valid_messages_only_ever_raise_malformed(body: str) -> None:
    # GIVEN a valid message with fields removed or replaced / WHEN parsed / THEN nothing but MalformedMessage
    assert_parses_or_is_malformed(body)


@PROPERTY
@given(
    instance_id=st.from_regex(r"i-([0-9a-f]{8}|[0-9a-f]{17})", fullmatch=True),
    token=st.uuids().map(str),
    asg=st.text(st.characters(codec="utf-8"), min_size=1, max_size=255).filter(str.strip),
    moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    shape=st.sampled_from(["direct", "sns", "eventbridge"]),
)
def test_valid_launches_round_trip(instance_id: str, token: str, asg: str, moment: datetime, shape: str) -> None:
    # GIVEN a launch notification in any envelope with arbitrary valid values
    if shape == "direct":
        body = f.lifecycle_body(instance_id=instance_id, token=token, asg_name=asg, time=moment)
    elif shape == "sns":
        body = f.sns_envelope(f.lifecycle_message(instance_id=instance_id, token=token, asg_name=asg, time=moment))
    else:
        body = f.eventbridge_lifecycle(instance_id=instance_id, token=token, asg_name=asg, time=moment)
    # WHEN it is parsed
    message = parse_message(body)
    # THEN the action carries exactly those values, and the time to the precision of the shape
    assert message.action == LifecycleAction(asg, f.HOOK_NAME, token, instance_id)
    precision = 1.0 if shape == "eventbridge" else 0.001
    assert message.sent_at is not None
    assert 0 <= (moment - message.sent_at).total_seconds() < precision


# --------------------------------------------------------------------------- bodies AWS really sends (issue 11)


@pytest.mark.parametrize("metadata", [{"asg-namer:name-template": "{asg}-{ip4}"}, {}], ids=["object", "empty-object"])
def test_eventbridge_metadata_delivered_as_an_object_is_accepted(metadata: dict[str, Any]) -> None:
    # GIVEN an EventBridge lifecycle event whose hook metadata is JSON: EventBridge delivers it as an object
    body = f.eventbridge_lifecycle(NotificationMetadata=metadata)
    # WHEN it is parsed
    message = parse_message(body)
    # THEN it is a launch, and the metadata is kept as its JSON text
    assert message.kind is MessageKind.LAUNCHING
    assert message.notification_metadata is not None
    assert json.loads(message.notification_metadata) == metadata


def test_a_direct_message_with_object_metadata_is_accepted_too() -> None:
    # GIVEN a relay that forwarded the hook's JSON metadata as an object in a direct-shaped body
    body = f.lifecycle_body(NotificationMetadata={"k": "v"})
    # WHEN parsed THEN it is a launch with the metadata as text
    assert json.loads(parse_message(body).notification_metadata or "") == {"k": "v"}


@pytest.mark.parametrize(
    ("body", "origin", "destination"),
    [
        pytest.param(
            json.dumps(
                f.test_notification_message(
                    Event="autoscaling:EC2_INSTANCE_LAUNCH",
                    EC2InstanceId="i-0598c7d356eba48d7",
                    Origin="WarmPool",
                    Destination="AutoScalingGroup",
                )
            ),
            "WarmPool",
            "AutoScalingGroup",
            id="sns-launch-notification",
        ),
        pytest.param(
            f.eventbridge_launch_successful(Origin="EC2", Destination="WarmPool"),
            "EC2",
            "WarmPool",
            id="eventbridge-launch-successful",
        ),
    ],
)
def test_launch_notifications_without_an_action_keep_origin_and_destination(
    body: str, origin: str, destination: str
) -> None:
    # GIVEN a launch notification with no lifecycle action that says where the instance came from and went
    # WHEN parsed
    message = parse_message(body)
    # THEN both are kept, so warm-pool launches are recognisable
    assert message.kind is MessageKind.LAUNCH_SUCCESSFUL
    assert (message.origin, message.destination) == (origin, destination)
    assert message.into_warm_pool == (destination == "WarmPool")


@pytest.mark.parametrize("sns_type", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_an_sns_subscription_confirmation_is_not_malformed(sns_type: str) -> None:
    # GIVEN the control message an SNS topic in another account sends when it is subscribed to the queue
    body = f.sns_subscription_confirmation(Type=sns_type)
    # WHEN parsed
    message = parse_message(body)
    # THEN it is recognised, with the topic and where to confirm
    assert message.kind is MessageKind.SNS_SUBSCRIPTION
    assert message.sns_type == sns_type
    assert message.topic_arn == f.TOPIC_ARN
    assert message.subscribe_url and message.subscribe_url.startswith("https://sns.")


@pytest.mark.parametrize("empty", ["", None])
def test_a_lifecycle_transition_beside_an_empty_event_is_a_lifecycle_action(empty: str | None) -> None:
    # GIVEN a relay that marshals whole structs: LifecycleTransition set, Event empty
    body = f.lifecycle_body(Event=empty)
    # WHEN parsed THEN it is a launch like any other
    message = parse_message(body)
    assert message.kind is MessageKind.LAUNCHING
    assert message.action is not None
