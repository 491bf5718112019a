"""The failure policy's circuit breaker through the real SQS trigger: ABANDON cannot loop forever (issue 11, item 8).

A group whose instances can never be named (a tag the template needs is missing) with FAILURE_RESULT=ABANDON:
each abandoned launch is replaced by an identical one. The breaker reads the group's scaling activities
(DescribeScalingActivities, as the sandbox answers it like AWS) and, once ABANDON_BREAKER launches were
abandoned by asg-namer within the hour, completes the next one with CONTINUE: capacity arrives, unnamed,
carrying the reason.
"""

from __future__ import annotations

from sandbox import Sandbox
from sandbox.lambda_runtime import FunctionLogs
from scenarios import TEAM_TAGS, build_world
from tests.support.function import asg_namer, deployed
from tests.support.waiting import wait_for
from tests.support.world import group_instances

FAILURE_TAG = "asg-namer:naming-failed"
ABANDONED = "was abandoned: Lifecycle Action Completed with ABANDON Result"


def reason_names_the_missing_tag(value: str) -> bool:
    """The reason as a tag value can hold it (quotes and brackets replaced): it still names the tag."""
    return "lacks tag" in value and value.endswith("Group")


def test_after_three_abandoned_launches_the_breaker_releases_the_next_one_with_continue(
    sandbox: Sandbox, unique: str, logs: FunctionLogs
) -> None:
    # GIVEN a group whose instances lack the Group tag, and the function deployed with FAILURE_RESULT=ABANDON and
    # the default breaker (3), behind its SQS trigger
    tags = {k: v for k, v in TEAM_TAGS.items() if k != "Group"}
    world = build_world(f"breaker-{unique}", endpoint_url=sandbox.endpoint_url, tags=tags)
    function = asg_namer({"FAILURE_RESULT": "ABANDON", "ABANDON_BREAKER": "3", "TIME_MARGIN_SECONDS": "2"})
    with deployed(sandbox, world, function, logs):
        # WHEN the group asks for one instance
        sandbox.client("autoscaling").set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=1)
        # THEN capacity arrives instead of looping: one instance ends InService
        wait_for(lambda: [f["state"] for f in group_instances(sandbox, world).values()] == ["InService"], timeout=120)
    events = sandbox.lifecycle.events(asg=world.asg_name)
    launches = [e.instance_id for e in events if e.cause == "launch"]
    ended = {e.instance_id: e for e in events if e.from_state == "Pending:Wait"}
    # AND exactly the first three launches were abandoned, each carrying the reason when it left
    assert len(launches) == 4
    for instance_id in launches[:3]:
        event = ended[instance_id]
        assert (event.to_state, event.cause) == ("Terminated", "ABANDON")
        assert reason_names_the_missing_tag(event.tags[FAILURE_TAG])
    # AND the fourth was completed with CONTINUE: in service, unnamed, tagged with the reason
    fourth = ended[launches[3]]
    assert (fourth.to_state, fourth.cause) == ("InService", "CONTINUE")
    assert "Name" not in fourth.tags and reason_names_the_missing_tag(fourth.tags[FAILURE_TAG])
    # AND the function said why (NamingCircuitOpen, alarmed), once
    totals = logs.metric_totals()
    assert totals["NamingCircuitOpen"] == 1
    assert totals["NamingFailed"] == 4
    # AND the group's scaling activities tell the same story, as AWS would
    activities = sandbox.client("autoscaling").describe_scaling_activities(AutoScalingGroupName=world.asg_name)
    cancelled = [a for a in activities["Activities"] if a["StatusCode"] == "Cancelled"]
    assert len(cancelled) == 3 and all(ABANDONED in a["StatusMessage"] for a in cancelled)
    newest_launch = next(a for a in activities["Activities"] if a["Description"].startswith("Launching"))
    assert (newest_launch["Description"].rsplit(" ", 1)[1], newest_launch["StatusCode"]) == (launches[3], "Successful")
