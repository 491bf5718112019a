"""The handler over HTTP against the embedded local AWS: every outcome the issue lists."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from handler.config import ConfigError
from sandbox import Sandbox
from sandbox.faults import EC2_CREATE_TAGS, BucketSpec, ErrorKind
from scenarios import build_world
from tests.support.events import (
    eventbridge_launch_successful,
    eventbridge_lifecycle,
    lifecycle_body,
    sns_envelope,
    sqs_event,
    sqs_record,
    test_notification,
)
from tests.support.waiting import wait_for
from tests.support.world import context, expected_name, group_instances, receive, scale_out

Handler = Callable[[dict[str, Any], Any], Any]

# Long enough that no record of a test that expects success can run out of time on a slow, loaded machine:
# the deadline margin (TIME_MARGIN_SECONDS, 25 s) leaves the rest for waiting and retries.
NO_DEADLINE = 600.0


class Calls:
    """API calls made between two points of a test, read from the sandbox's journal."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._start = len(sandbox.journal.records())

    def count(self, action: str) -> int:
        return sum(1 for r in self._sandbox.journal.records()[self._start :] if r.action == action)

    def services(self) -> set[str]:
        return {r.service for r in self._sandbox.journal.records()[self._start :]}


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_a_batch_is_named_and_released_with_one_describe(sandbox, world, cold_start, logs) -> None:
    # GIVEN five launching instances held in Pending:Wait and their five hook messages
    received = scale_out(sandbox, world, 5)
    handler = cold_start()
    calls = Calls(sandbox)
    # WHEN the handler gets them as one batch
    response = handler(received.event(), context(NO_DEADLINE))
    # THEN the batch cost one DescribeInstances for the facts and one for the names already taken, one read of
    # the group's hooks (a cold environment), one CreateTags and one completion per instance, no DeleteTags
    assert calls.count("DescribeInstances") == 2
    assert calls.count("DescribeLifecycleHooks") == 1
    assert calls.count("CreateTags") == 5
    assert calls.count("CompleteLifecycleAction") == 5
    assert calls.count("DeleteTags") == 0
    # AND nothing failed, every instance carries the convention's name and is InService
    assert failures(response) == []
    instances = group_instances(sandbox, world)
    assert len(instances) == 5
    for facts in instances.values():
        assert facts["state"] == "InService"
        assert facts["name"] == expected_name(facts["ip"])
    totals = logs.metric_totals()
    assert totals["InstancesNamed"] == 5
    assert totals["LifecycleActionsCompleted"] == 5
    assert len(logs.metric_samples("HookToCompleteSeconds")) == 5


def test_every_log_line_of_a_record_carries_the_lifecycle_identifiers(sandbox, world, cold_start, logs) -> None:
    # GIVEN one launch message
    received = scale_out(sandbox, world, 1)
    body = received.bodies()[0]
    # WHEN it is handled
    cold_start()(received.event(), context(NO_DEADLINE))
    # THEN each record-level log line names the instance, the group, the hook and the token
    lines = [line for line in logs.json_lines() if line.get("instance_id") == body["EC2InstanceId"]]
    assert lines, "no log line mentions the instance"
    for line in lines:
        assert line["asg"] == world.asg_name
        assert line["hook"] == world.hook_name
        assert line["token"] == body["LifecycleActionToken"]
    assert any(line["message"] == "lifecycle action completed" for line in lines)


def test_test_notification_is_acknowledged_without_any_aws_call(sandbox, world, cold_start, logs) -> None:
    # GIVEN the hook's test notification
    handler = cold_start()
    calls = Calls(sandbox)
    event = sqs_event(sqs_record(test_notification(AutoScalingGroupName=world.asg_name)))
    # WHEN handled THEN acknowledged, counted, and EC2 / Auto Scaling were never called
    assert failures(handler(event, context(NO_DEADLINE))) == []
    assert calls.services() <= {"sqs"}
    assert logs.metric_totals()["TestNotifications"] == 1


def test_a_malformed_body_fails_only_its_own_record(sandbox, world, cold_start, logs) -> None:
    # GIVEN two real launch messages and one that is not a notification
    received = scale_out(sandbox, world, 2)
    poison = sqs_record("{not json", message_id="poison-1")
    event = received.event()
    event["Records"].insert(1, poison)
    # WHEN handled together
    response = cold_start()(event, context(NO_DEADLINE))
    # THEN only the poison record fails, with a log line saying why, and the others are released
    assert failures(response) == ["poison-1"]
    assert all(i["state"] == "InService" for i in group_instances(sandbox, world).values())
    assert logs.metric_totals()["MalformedMessages"] == 1
    assert any("malformed" in line.get("message", "") and line.get("reason") for line in logs.json_lines())


def test_a_duplicate_delivery_does_no_double_work(sandbox, world, cold_start, logs) -> None:
    # GIVEN a message that was already handled once
    received = scale_out(sandbox, world, 1)
    handler = cold_start()
    handler(received.event(), context(NO_DEADLINE))
    calls = Calls(sandbox)
    # WHEN the same message is delivered again (at-least-once delivery)
    response = handler(received.event(), context(NO_DEADLINE))
    # THEN it is acknowledged, the name is not written again and the action counts as already completed
    assert failures(response) == []
    assert calls.count("CreateTags") == 0
    totals = logs.metric_totals()
    assert totals["InstancesAlreadyNamed"] == 1
    assert totals["ActionAlreadyCompleted"] == 1


def test_an_expired_token_is_acknowledged(sandbox, world, cold_start, logs) -> None:
    # GIVEN an action that someone else already completed (a redriven message carries such a token)
    received = scale_out(sandbox, world, 1)
    body = received.bodies()[0]
    sandbox.client("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName=world.asg_name,
        LifecycleHookName=world.hook_name,
        LifecycleActionToken=body["LifecycleActionToken"],
        LifecycleActionResult="CONTINUE",
    )
    # WHEN the handler gets the message
    response = cold_start()(received.event(), context(NO_DEADLINE))
    # THEN the record is acknowledged, not retried forever
    assert failures(response) == []
    assert logs.metric_totals()["ActionAlreadyCompleted"] == 1


@pytest.mark.parametrize(("failure_result", "final_state"), [("ABANDON", None), ("CONTINUE", "InService")])
def test_a_missing_tag_completes_with_the_failure_result(
    sandbox, unique, cold_start, logs, failure_result, final_state
) -> None:
    # GIVEN a group whose instances lack the Env tag the template needs
    tags = {"Region": "vg", "App": "store", "Layer": "web", "Group": "a"}
    world = build_world(f"it-notag-{unique}", endpoint_url=sandbox.endpoint_url, tags=tags)
    received = scale_out(sandbox, world, 1)
    instance_id = received.bodies()[0]["EC2InstanceId"]
    # WHEN the handler cannot build a name
    response = cold_start(FAILURE_RESULT=failure_result)(received.event(), context(NO_DEADLINE))
    # THEN the record is acknowledged and the action completed with the policy's result
    assert failures(response) == []
    assert logs.metric_totals()["NamingFailed"] == 1
    errors = [line for line in logs.json_lines() if line.get("level") == "ERROR"]
    assert any("Env" in line.get("reason", "") for line in errors)
    instance = group_instances(sandbox, world).get(instance_id)
    if final_state is None:  # ABANDON: terminated and no longer in the group
        assert instance is None
        state = sandbox.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        assert state["State"]["Name"] == "terminated"
    else:
        assert instance is not None
        assert instance["state"] == final_state
        assert instance["name"] is None


def test_a_private_ip_assigned_late_is_waited_for(sandbox, world, cold_start, logs) -> None:
    # GIVEN instances whose private IP stays hidden until the handler has seen it missing (then it appears:
    # no race with the machine's speed)
    sandbox.controls.set_private_ip_delay(3600)
    received = scale_out(sandbox, world, 3)
    handler = cold_start()
    hidden_before = _private_ips_hidden(sandbox)
    revealer = threading.Thread(target=_reveal_ips_once_seen_hidden, args=(sandbox, hidden_before))
    revealer.start()
    # WHEN handled with enough time left
    response = handler(received.event(), context(NO_DEADLINE))
    revealer.join()
    # THEN the handler met the missing IP, and every instance is named with its IP once it appeared
    assert _private_ips_hidden(sandbox) > hidden_before
    assert failures(response) == []
    for facts in group_instances(sandbox, world).values():
        assert facts["name"] == expected_name(facts["ip"])
    assert max(logs.metric_samples("NamingSeconds")) > 0


def _private_ips_hidden(sandbox: Sandbox) -> int:
    return int(sandbox.controls.stats()["ec2"]["private_ip_hidden"])


def _reveal_ips_once_seen_hidden(sandbox: Sandbox, hidden_before: int) -> None:
    try:
        wait_for(lambda: _private_ips_hidden(sandbox) > hidden_before)
    finally:
        sandbox.controls.set_private_ip_delay(0)


def test_a_wait_that_outlasts_the_invocation_heartbeats_and_fails_the_record(sandbox, world, cold_start, logs) -> None:
    # GIVEN an IP that will not appear within this invocation
    sandbox.controls.set_private_ip_delay(3600)
    received = scale_out(sandbox, world, 1)
    calls = Calls(sandbox)
    # WHEN the invocation has little time left
    response = cold_start(TIME_MARGIN_SECONDS="1")(received.event(), context(3))
    # THEN the action was kept alive with a heartbeat and the record fails so SQS redelivers it
    assert failures(response) == [received.messages[0]["MessageId"]]
    assert calls.count("RecordLifecycleActionHeartbeat") == 1
    assert calls.count("CompleteLifecycleAction") == 0
    assert logs.metric_totals()["RecordsRetried"] == 1
    assert next(iter(group_instances(sandbox, world).values()))["state"] == "Pending:Wait"


def test_eventual_consistency_not_found_is_waited_out(sandbox, world, cold_start, logs) -> None:
    # GIVEN EC2 answering NotFound for brand-new instances for a moment
    sandbox.controls.set_eventual_consistency(1.5)
    received = scale_out(sandbox, world, 2)
    # WHEN handled THEN both are named and released once EC2 sees them
    assert failures(cold_start()(received.event(), context(NO_DEADLINE))) == []
    assert all(i["state"] == "InService" and i["name"] for i in group_instances(sandbox, world).values())


def test_throttled_create_tags_are_retried_until_named(sandbox, world, cold_start, logs) -> None:
    # GIVEN a CreateTags bucket of two calls refilling at two per second
    received = scale_out(sandbox, world, 6)
    sandbox.controls.set_throttling(buckets={EC2_CREATE_TAGS: BucketSpec(2, 2)})
    # WHEN six instances are named in one batch
    response = cold_start()(received.event(), context(NO_DEADLINE))
    # THEN throttling happened and still every instance was named and released
    assert sandbox.controls.stats()["throttled"]["total"] > 0
    assert failures(response) == []
    assert all(i["state"] == "InService" and i["name"] for i in group_instances(sandbox, world).values())


def test_server_errors_on_completion_are_retried(sandbox, world, cold_start, logs) -> None:
    # GIVEN Auto Scaling failing CompleteLifecycleAction with 5xx a few times
    received = scale_out(sandbox, world, 2)
    sandbox.controls.inject_error("autoscaling", "CompleteLifecycleAction", ErrorKind.HTTP500, count=4)
    # WHEN handled THEN the retries win and both instances are released
    assert failures(cold_start()(received.event(), context(NO_DEADLINE))) == []
    assert all(i["state"] == "InService" for i in group_instances(sandbox, world).values())


def test_persistent_transient_errors_fail_the_record_for_redelivery(sandbox, world, cold_start, logs) -> None:
    # GIVEN EC2 dropping every CreateTags connection
    received = scale_out(sandbox, world, 1)
    sandbox.controls.inject_error("ec2", "CreateTags", ErrorKind.CONNECTION_RESET)
    # WHEN the invocation runs out of time THEN the record fails (never dropped) and the instance still waits
    response = cold_start(TIME_MARGIN_SECONDS="1", AWS_MAX_ATTEMPTS="2")(received.event(), context(4))
    assert failures(response) == [received.messages[0]["MessageId"]]
    assert next(iter(group_instances(sandbox, world).values()))["state"] == "Pending:Wait"


def test_a_terminated_instance_is_gone_and_acknowledged(sandbox, world, cold_start, logs) -> None:
    # GIVEN an instance terminated while its message waited in the queue
    received = scale_out(sandbox, world, 1)
    sandbox.client("ec2").terminate_instances(InstanceIds=[received.bodies()[0]["EC2InstanceId"]])
    # WHEN handled THEN acknowledged and counted as gone
    assert failures(cold_start()(received.event(), context(NO_DEADLINE))) == []
    assert logs.metric_totals()["InstancesGone"] == 1


def test_an_sns_envelope_is_handled_like_a_direct_message(sandbox, world, cold_start, logs) -> None:
    # GIVEN the hook message delivered through SNS
    received = scale_out(sandbox, world, 1)
    message = received.messages[0]
    record = sqs_record(sns_envelope(message["Body"]), message_id=message["MessageId"], queue_arn=world.queue_arn)
    event = sqs_event(record)
    # WHEN handled THEN the instance is named and released
    assert failures(cold_start()(event, context(NO_DEADLINE))) == []
    facts = next(iter(group_instances(sandbox, world).values()))
    assert facts["state"] == "InService"
    assert facts["name"] == expected_name(facts["ip"])


def test_an_eventbridge_lifecycle_event_is_handled_like_a_direct_message(sandbox, world, cold_start, logs) -> None:
    # GIVEN the same lifecycle action delivered by an EventBridge rule
    received = scale_out(sandbox, world, 1)
    body = received.bodies()[0]
    event_body = eventbridge_lifecycle(
        instance_id=body["EC2InstanceId"],
        asg_name=world.asg_name,
        hook_name=world.hook_name,
        token=body["LifecycleActionToken"],
    )
    # WHEN handled THEN the instance is named and released
    event = sqs_event(sqs_record(event_body, queue_arn=world.queue_arn))
    assert failures(cold_start()(event, context(NO_DEADLINE))) == []
    facts = next(iter(group_instances(sandbox, world).values()))
    assert facts["state"] == "InService"
    assert facts["name"] == expected_name(facts["ip"])


def test_a_terminating_transition_is_acknowledged_and_left_alone(sandbox, world, cold_start, logs) -> None:
    # GIVEN a terminate lifecycle notification that reached our queue (not ours to complete)
    handler = cold_start()
    calls = Calls(sandbox)
    body = lifecycle_body(asg_name=world.asg_name, transition="autoscaling:EC2_INSTANCE_TERMINATING")
    # WHEN handled THEN it is acknowledged with a warning and a metric, and nothing is called
    assert failures(handler(sqs_event(sqs_record(body)), context(NO_DEADLINE))) == []
    assert calls.services() <= {"sqs"}
    assert logs.metric_totals()["NonLaunchTransitions"] == 1
    assert any(line.get("level") == "WARNING" for line in logs.json_lines())


def test_launch_successful_event_names_an_instance_without_a_hook(sandbox, unique, cold_start, logs) -> None:
    # GIVEN an instance already in service in a group without a hook, and its EventBridge event
    tags = {"Region": "vg", "App": "store", "Layer": "web", "Env": "release", "Group": "b"}
    plain = build_world(f"plain-{unique}", endpoint_url=sandbox.endpoint_url, tags=tags)
    autoscaling, ec2 = sandbox.client("autoscaling"), sandbox.client("ec2")
    autoscaling.delete_lifecycle_hook(AutoScalingGroupName=plain.asg_name, LifecycleHookName=plain.hook_name)
    autoscaling.set_desired_capacity(AutoScalingGroupName=plain.asg_name, DesiredCapacity=1)
    (member,) = group_instances(sandbox, plain)
    instance = ec2.describe_instances(InstanceIds=[member])["Reservations"][0]["Instances"][0]
    body = eventbridge_launch_successful(instance_id=instance["InstanceId"], asg_name=plain.asg_name)
    calls = Calls(sandbox)
    # WHEN handled
    response = cold_start()(sqs_event(sqs_record(body)), context(NO_DEADLINE))
    # THEN it is named by the same convention and no lifecycle action is completed
    assert failures(response) == []
    tags = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}["Name"] == expected_name(
        instance["PrivateIpAddress"], "vg-store-web-release-b"
    )
    assert calls.count("CompleteLifecycleAction") == 0


def test_a_hook_can_override_the_template_through_its_metadata(sandbox, unique, cold_start, logs) -> None:
    # GIVEN a hook whose NotificationMetadata carries its own template
    metadata = json.dumps({"asg-namer:name-template": "{asg}-{ip4}"})
    world = build_world(f"it-meta-{unique}", endpoint_url=sandbox.endpoint_url, notification_metadata=metadata)
    received = scale_out(sandbox, world, 1)
    # WHEN handled THEN the group's template wins over NAME_TEMPLATE
    assert failures(cold_start()(received.event(), context(NO_DEADLINE))) == []
    facts = next(iter(group_instances(sandbox, world).values()))
    assert facts["name"] == f"{world.asg_name}-{facts['ip'].split('.')[3]}"


def test_tag_attached_names_volumes_and_interfaces_in_the_same_call(sandbox, world, cold_start, logs) -> None:
    # GIVEN TAG_ATTACHED on
    received = scale_out(sandbox, world, 1)
    instance_id = received.bodies()[0]["EC2InstanceId"]
    calls = Calls(sandbox)
    # WHEN handled
    assert failures(cold_start(TAG_ATTACHED="true")(received.event(), context(NO_DEADLINE))) == []
    # THEN one CreateTags named the instance's network interfaces too
    assert calls.count("CreateTags") == 1
    ec2 = sandbox.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    name = {t["Key"]: t["Value"] for t in instance["Tags"]}["Name"]
    eni_ids = [eni["NetworkInterfaceId"] for eni in instance["NetworkInterfaces"]]
    assert eni_ids
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=eni_ids)["NetworkInterfaces"]
    for eni in enis:
        assert {t["Key"]: t["Value"] for t in eni.get("TagSet", [])}.get("Name") == name


def test_a_bad_configuration_fails_at_start_up_naming_every_variable(cold_start) -> None:
    # GIVEN two bad variables WHEN the execution environment initialises THEN one error names both
    with pytest.raises(ConfigError) as raised:
        cold_start(FAILURE_RESULT="MAYBE", MAX_WORKERS="0")
    assert "FAILURE_RESULT" in str(raised.value)
    assert "MAX_WORKERS" in str(raised.value)


def test_receive_helper_sees_the_documented_message(sandbox, world) -> None:
    # GIVEN a scale-out of one WHEN its message is read THEN it has the documented launch fields
    body = receive(sandbox, world, 0).bodies() or scale_out(sandbox, world, 1).bodies()
    assert body[0]["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert body[0]["LifecycleHookName"] == world.hook_name
