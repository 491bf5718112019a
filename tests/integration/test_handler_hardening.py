"""What a forged message, a tag value with odd characters and the bodies AWS really sends do to the handler.

Each test here failed before its fix (issue 11): the handler trusted the message, treated such values as
fatal, or called these bodies malformed.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox import Sandbox
from scenarios import TEAM_TAGS, World, build_world
from tests.support.events import (
    eventbridge_lifecycle,
    lifecycle_body,
    sns_subscription_confirmation,
    sqs_event,
    sqs_record,
)
from tests.support.world import Received, context, expected_name, group_instances, scale_out

LONG = 600.0  # no record of these tests may run out of time, however slow the machine
FAILURE_TAG = "asg-namer:naming-failed"


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def tags_of(sandbox: Sandbox, instance_id: str) -> dict[str, str]:
    instance = sandbox.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}


def forged(world: World, instance_id: str, **fields: Any) -> dict[str, Any]:
    """A LAUNCHING body someone with sqs:SendMessage wrote, delivered through the world's queue."""
    body = lifecycle_body(instance_id=instance_id, asg_name=world.asg_name, hook_name=world.hook_name, **fields)
    return sqs_event(sqs_record(body, queue_arn=world.queue_arn))


# --------------------------------------------------------------------------- item 2: forged messages


def test_a_forged_message_cannot_rename_an_instance_no_group_launched(sandbox, world, cold_start, logs) -> None:
    # GIVEN a database server outside any Auto Scaling group, and a forged launch message naming it with a template
    ec2 = sandbox.client("ec2")
    database = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "db-primary-real"}]}],
    )["Instances"][0]["InstanceId"]
    metadata = json.dumps({"asg-namer:name-template": "db-primary"})
    # WHEN the handler gets it
    response = cold_start()(forged(world, database, NotificationMetadata=metadata), context(LONG))
    # THEN it is acknowledged as rejected, counted, and the instance keeps its name
    assert failures(response) == []
    assert tags_of(sandbox, database)["Name"] == "db-primary-real"
    assert logs.metric_totals()["RejectedMessages"] == 1
    assert "InstancesNamed" not in logs.metric_totals()
    rejected = [line for line in logs.json_lines() if line.get("message", "").startswith("rejected message")]
    assert rejected and "belongs to group None" in rejected[0]["reason"] and rejected[0]["sender_id"]


def test_a_message_claiming_another_group_for_an_instance_is_rejected(sandbox, world, unique, cold_start, logs):
    # GIVEN an instance of one group and a message that names it under another group the account has
    other = build_world(f"other-{unique}", endpoint_url=sandbox.endpoint_url)
    (instance_id,) = [json.loads(m["Body"])["EC2InstanceId"] for m in scale_out(sandbox, other, 1).messages]
    # WHEN the forged message arrives on the first group's queue
    response = cold_start()(forged(world, instance_id), context(LONG))
    # THEN it is rejected: nothing written, the instance still waits for its own hook
    assert failures(response) == []
    assert logs.metric_totals()["RejectedMessages"] == 1
    assert "Name" not in tags_of(sandbox, instance_id)
    assert group_instances(sandbox, other)[instance_id]["state"] == "Pending:Wait"


def test_the_template_comes_from_the_hook_aws_describes_not_from_the_message(sandbox, world, cold_start, logs):
    # GIVEN a real launch of the group, and a copy of its message whose metadata carries another template
    received = scale_out(sandbox, world, 1)
    body = received.bodies()[0]
    body["NotificationMetadata"] = json.dumps({"asg-namer:name-template": "pwned-{ip4}"})
    event = sqs_event(sqs_record(json.dumps(body), queue_arn=world.queue_arn))
    # WHEN handled
    assert failures(cold_start()(event, context(LONG))) == []
    # THEN the instance has the group's template (the hook as Auto Scaling holds it) and is released
    (facts,) = group_instances(sandbox, world).values()
    assert facts["name"] == expected_name(facts["ip"])
    assert facts["state"] == "InService"


def test_a_message_naming_a_hook_of_another_queue_is_rejected(sandbox, world, unique, cold_start, logs) -> None:
    # GIVEN a group whose hook notifies its own queue, and its real message replayed into another queue
    other = build_world(f"elsewhere-{unique}", endpoint_url=sandbox.endpoint_url)
    message = scale_out(sandbox, other, 1).messages[0]
    event = sqs_event(sqs_record(message["Body"], queue_arn=world.queue_arn))
    # WHEN the function behind that other queue gets it THEN it is rejected and nothing is done
    assert failures(cold_start()(event, context(LONG))) == []
    assert logs.metric_totals()["RejectedMessages"] == 1
    assert next(iter(group_instances(sandbox, other).values()))["name"] is None


# --------------------------------------------------------------------------- item 8: failure policy


def test_characters_a_name_may_not_hold_are_replaced_not_fatal(sandbox, unique, cold_start, logs) -> None:
    # GIVEN a group whose App tag is 'store (eu)' ('(' and ')' are not allowed in a Name)
    world = build_world(f"odd-{unique}", endpoint_url=sandbox.endpoint_url, tags={**TEAM_TAGS, "App": "store (eu)"})
    received = scale_out(sandbox, world, 1)
    # WHEN handled with the default INVALID_CHARS=replace
    assert failures(cold_start()(received.event(), context(LONG))) == []
    # THEN the instance is named with each run replaced by one '-' and released (no ABANDON loop)
    (facts,) = group_instances(sandbox, world).values()
    assert facts["name"] == expected_name(facts["ip"], "vg-store -eu-web-release-a")
    assert facts["state"] == "InService"


def test_fail_mode_abandons_and_every_unnamed_instance_carries_the_reason(sandbox, unique, cold_start, logs) -> None:
    # GIVEN the same tag with INVALID_CHARS=fail and FAILURE_RESULT=CONTINUE
    world = build_world(f"strict-{unique}", endpoint_url=sandbox.endpoint_url, tags={**TEAM_TAGS, "App": "a&b"})
    received = scale_out(sandbox, world, 1)
    handler = cold_start(INVALID_CHARS="fail", FAILURE_RESULT="CONTINUE")
    # WHEN handled
    assert failures(handler(received.event(), context(LONG))) == []
    # THEN the instance serves unnamed, but says why on a tag of its own
    (instance_id,) = group_instances(sandbox, world)
    tags = tags_of(sandbox, instance_id)
    assert "Name" not in tags
    assert "'&'" not in tags[FAILURE_TAG] and "is not allowed" in tags[FAILURE_TAG]
    assert logs.metric_totals()["NamingFailed"] == 1


def test_an_abandoned_instance_carries_the_reason_too(sandbox, unique, cold_start, logs) -> None:
    # GIVEN a group missing a tag the template needs (default FAILURE_RESULT=ABANDON)
    tags = {k: v for k, v in TEAM_TAGS.items() if k != "Group"}
    world = build_world(f"abandon-{unique}", endpoint_url=sandbox.endpoint_url, tags=tags)
    received = scale_out(sandbox, world, 1)
    instance_id = received.bodies()[0]["EC2InstanceId"]
    # WHEN handled
    assert failures(cold_start()(received.event(), context(LONG))) == []
    # THEN it was abandoned (terminated) with the reason on it
    # (the reason as a tag value holds only characters tags allow)
    assert tags_of(sandbox, instance_id)[FAILURE_TAG] == "instance lacks tag-s- the template needs: -Group"
    state = sandbox.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] in ("shutting-down", "terminated")


# --------------------------------------------------------------------------- item 9: heartbeats


def test_a_redelivered_record_records_a_heartbeat_before_anything_else(sandbox, world, cold_start, logs) -> None:
    # GIVEN a launch message delivered for the second time (the first invocation may have timed out silently)
    received = scale_out(sandbox, world, 1)
    message = received.messages[0]
    event = sqs_event(sqs_record(message["Body"], queue_arn=world.queue_arn, receive_count=2))
    start = len(sandbox.journal.records())
    # WHEN handled
    assert failures(cold_start()(event, context(LONG))) == []
    # THEN the action got a heartbeat before the instance was named and released
    actions = [r.action for r in sandbox.journal.records()[start:] if r.service in ("ec2", "autoscaling")]
    assert actions.index("RecordLifecycleActionHeartbeat") < actions.index("CreateTags")
    assert actions.index("CreateTags") < actions.index("CompleteLifecycleAction")


# --------------------------------------------------------------------------- items 10-13: bodies AWS sends


def test_an_eventbridge_event_with_json_metadata_as_an_object_is_named_with_that_template(
    sandbox, unique, cold_start, logs
) -> None:
    # GIVEN a hook whose metadata is JSON, and its lifecycle action as EventBridge delivers it: an object
    metadata = {"asg-namer:name-template": "{asg}-{ip4}"}
    world = build_world(
        f"ebobj-{unique}", endpoint_url=sandbox.endpoint_url, notification_metadata=json.dumps(metadata)
    )
    body = scale_out(sandbox, world, 1).bodies()[0]
    event_body = eventbridge_lifecycle(
        instance_id=body["EC2InstanceId"],
        asg_name=world.asg_name,
        hook_name=world.hook_name,
        token=body["LifecycleActionToken"],
        NotificationMetadata=metadata,
    )
    # WHEN handled THEN the instance is named with the hook's template and released (not malformed, not lost)
    assert failures(cold_start()(sqs_event(sqs_record(event_body, queue_arn=world.queue_arn)), context(LONG))) == []
    (facts,) = group_instances(sandbox, world).values()
    assert facts["name"] == f"{world.asg_name}-{facts['ip'].split('.')[3]}"
    assert facts["state"] == "InService"


def test_an_sns_subscription_confirmation_is_acknowledged_with_a_warning(sandbox, world, cold_start, logs) -> None:
    # GIVEN the confirmation request of an SNS topic someone subscribed to the queue
    event = sqs_event(sqs_record(sns_subscription_confirmation(), queue_arn=world.queue_arn))
    # WHEN handled THEN it does not go to the DLQ; the operator is told which topic and how to confirm
    assert failures(cold_start()(event, context(LONG))) == []
    assert logs.metric_totals()["SubscriptionConfirmations"] == 1
    warning = next(line for line in logs.json_lines() if line.get("topic_arn"))
    assert "confirm-subscription" in warning["message"] and warning["subscribe_url"].startswith("https://")


def test_a_relay_body_with_an_empty_event_field_is_a_launch(sandbox, world, cold_start, logs) -> None:
    # GIVEN the real message as a relay that marshals whole structs sends it: with "Event": ""
    received = scale_out(sandbox, world, 1)
    body = {**received.bodies()[0], "Event": ""}
    event = sqs_event(sqs_record(json.dumps(body), queue_arn=world.queue_arn))
    # WHEN handled THEN the instance is named and released
    assert failures(cold_start()(event, context(LONG))) == []
    (facts,) = group_instances(sandbox, world).values()
    assert (facts["state"], facts["name"]) == ("InService", expected_name(facts["ip"]))


def test_received_helper_keeps_the_queue_of_the_world(sandbox, world) -> None:
    # the tests above deliver through the world's queue, as the trigger would
    received = scale_out(sandbox, world, 1)
    assert isinstance(received, Received) and received.queue_arn == world.queue_arn
