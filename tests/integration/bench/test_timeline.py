"""Per-instance timelines from the sandbox's journals: which call is whose, the phases, the backoff, the median.

Journals are built by factories shaped like the sandbox's records (query parameters as botocore sends them);
no sandbox and no clock: the logic is arithmetic on recorded times.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import boto3
import pytest

from bench.emulator import fresh_sdk_default_session
from bench.timeline import (
    InstanceTimeline,
    Receipt,
    ReceiptLog,
    backoff_seconds,
    build_timelines,
    full_bucket_seconds,
    named_instances,
    rank_correlation,
    release_curve,
    release_pace,
    where_time_goes,
)
from sandbox.clock import SandboxClock
from sandbox.lambda_runtime import environment_factory
from sandbox.lifecycle import LifecycleEvent
from sandbox.server import CallRecord
from tests.support.events import lifecycle_body, new_instance_id, new_token, sqs_event, sqs_record

T0 = 1_700_000_000.0  # the burst's launch, on the sandbox clock


def call(
    action: str,
    started: float,
    *,
    service: str = "ec2",
    status: int = 200,
    error: str | None = None,
    resources: tuple[str, ...] = (),
    took: float = 0.03,
    **params: list[str],
) -> CallRecord:
    """A journal record: ``params`` are the request's query parameters (``Filter_1_Name`` -> ``Filter.1.Name``)."""
    query = {key.replace("_", "."): value for key, value in params.items()}
    return CallRecord(service, action, status, error, resources, (), T0 + started, T0 + started + took, query)


def throttled(action: str, started: float, **kwargs: Any) -> CallRecord:
    service = "autoscaling" if action == "CompleteLifecycleAction" else "ec2"
    code = "Throttling" if service == "autoscaling" else "RequestLimitExceeded"
    return call(action, started, service=service, status=400 if service == "autoscaling" else 503, error=code, **kwargs)


def lifecycle(instance_id: str, at: float, to_state: str = "InService") -> list[LifecycleEvent]:
    """Launched at T0, left Pending:Wait ``at`` seconds later."""
    tags = MappingProxyType({"Name": f"web-{instance_id[-4:]}"})
    return [
        LifecycleEvent(T0, instance_id, "web", "Pending", "Pending:Wait", "launch", MappingProxyType({})),
        LifecycleEvent(T0 + at, instance_id, "web", "Pending:Wait", to_state, "CONTINUE", tags, "hook"),
    ]


def describe_by_filter(started: float, *ids: str) -> CallRecord:
    values = {f"Filter_1_Value_{i + 1}": [instance_id] for i, instance_id in enumerate(ids)}
    return call("DescribeInstances", started, Filter_1_Name=["instance-id"], **values)


def complete(started: float, token: str, **kwargs: Any) -> CallRecord:
    return call("CompleteLifecycleAction", started, service="autoscaling", LifecycleActionToken=[token], **kwargs)


def test_calls_are_attributed_to_the_instances_they_name() -> None:
    # GIVEN one instance of each request shape the candidates send
    a, b, c = new_instance_id(), new_instance_id(), new_instance_id()
    token = new_token()
    # THEN each call is the instance's it names: by filter, by InstanceId.N, by resource, by token or by id
    assert named_instances(describe_by_filter(0, a, b), {}) == [a, b]
    assert named_instances(call("DescribeInstances", 0, InstanceId_1=[c]), {}) == [c]
    assert named_instances(call("CreateTags", 0, resources=(a,)), {}) == [a]
    assert named_instances(complete(0, token), {token: b}) == [b]
    assert named_instances(call("CompleteLifecycleAction", 0, service="autoscaling", InstanceId=[c]), {}) == [c]
    # AND a collision check (a tag filter on names) names no instance, nor does a call of another service
    names = call("DescribeInstances", 0, Filter_1_Name=["tag:Name"], Filter_1_Value_1=["web-1"])
    assert named_instances(names, {}) == []
    assert named_instances(call("ReceiveMessage", 0, service="sqs"), {}) == []


def test_backoff_is_the_gap_after_each_throttled_answer_until_the_next_attempt() -> None:
    # GIVEN CompleteLifecycleAction throttled at 1.0 s and 1.5 s (answered 30 ms later), accepted at 3.0 s
    token = new_token()
    attempts = [
        throttled("CompleteLifecycleAction", 1.0, LifecycleActionToken=[token]),
        throttled("CompleteLifecycleAction", 1.5, LifecycleActionToken=[token]),
        complete(3.0, token),
    ]
    # THEN the backoff is (1.5 - 1.03) + (3.0 - 1.53)
    assert backoff_seconds(attempts) == pytest.approx(0.47 + 1.47)
    # AND a throttle of another action does not open a gap for this one
    assert backoff_seconds([throttled("CreateTags", 0.5), complete(3.0, token)]) == 0


def test_a_timeline_has_every_point_and_its_phases_add_up_to_the_wait() -> None:
    # GIVEN one instance: received at 2.0 s in a cold invocation (0.4 s init), described, tagged after a
    # throttle, completed on the second attempt, released at 6.0 s
    instance, token = new_instance_id(), new_token()
    calls = [
        describe_by_filter(2.5, instance),
        throttled("CreateTags", 2.6, resources=(instance,)),
        call("CreateTags", 3.0, resources=(instance,)),
        throttled("CompleteLifecycleAction", 3.1, LifecycleActionToken=[token]),
        complete(5.0, token),
    ]
    receipts = {instance: Receipt(received=T0 + 2.0, init_seconds=0.4)}
    # WHEN its timeline is built
    (timeline,) = build_timelines(lifecycle(instance, 6.0), calls, receipts, {token: instance})
    # THEN every point is where the journals put it, relative to the launch
    assert (timeline.launched, timeline.received, timeline.init_seconds) == (0, pytest.approx(2.0), 0.4)
    assert timeline.described == pytest.approx(2.53)
    assert timeline.tagged == pytest.approx(3.03)
    assert (timeline.completion_attempts, timeline.throttled, timeline.result) == (2, 2, "InService")
    assert timeline.completed == pytest.approx(6.0)
    # AND the phases split the 6 s wait exactly
    phases = timeline.phases()
    assert phases is not None
    assert phases["queue"] == pytest.approx(2.0)
    assert phases["cold start"] == pytest.approx(0.4)
    assert phases["describe"] == pytest.approx(0.13)
    assert phases["name"] == pytest.approx(0.5)
    assert phases["complete"] == pytest.approx(2.97)
    assert sum(phases[k] for k in ("queue", "cold start", "describe", "name", "complete")) == pytest.approx(6.0)
    assert phases["backoff"] == pytest.approx((3.0 - 2.63) + (5.0 - 3.13))


def test_an_instance_never_released_has_no_phases_and_counts_as_waiting() -> None:
    instance = new_instance_id()
    events = lifecycle(instance, 1.0)[:1]  # launched, never left Pending:Wait
    (timeline,) = build_timelines(events, [], {}, {})
    assert (timeline.completed, timeline.result, timeline.phases()) == (None, None, None)
    assert release_curve([timeline]) == []


def timeline(instance_id: str, latency: float, queue: float) -> InstanceTimeline:
    return InstanceTimeline(
        instance_id=instance_id,
        launched=0.0,
        received=queue,
        init_seconds=0.0,
        described=queue + 0.1,
        tagged=queue + 0.2,
        completion_attempts=1,
        throttled=0,
        backoff_seconds=0.0,
        completed=latency,
        result="InService",
    )


def test_where_time_goes_picks_the_median_instance_and_sums_the_shares() -> None:
    # GIVEN three instances in launch order, released after 1, 3 and 2 s (queue wait 0.5, 2.5, 1.5 s)
    timelines = [timeline("i-a", 1.0, 0.5), timeline("i-b", 3.0, 2.5), timeline("i-c", 2.0, 1.5)]
    # WHEN the time split is made
    split = where_time_goes(timelines)
    # THEN the median instance is the one released after 2 s, with its own phases
    assert split["median_instance"]["instance_id"] == "i-c"
    assert split["median_instance"]["phases"]["queue"] == 1.5
    # AND the queue held (0.5 + 2.5 + 1.5) of the 6 instance-seconds waited
    assert split["phase_shares"]["queue"] == pytest.approx(4.5 / 6, abs=0.001)
    assert split["phase_medians"]["complete"] == pytest.approx(0.3)  # tagged 0.2 s after receipt, every one
    # AND release order against launch order is measured (a, b, c released 1st, 3rd, 2nd)
    assert split["launch_order_kept"] == pytest.approx(0.5)
    assert release_curve(timelines) == [1.0, 2.0, 3.0]


def test_release_pace_tells_a_late_start_from_a_slow_pace() -> None:
    # GIVEN 101 releases: the first after 20 s, then one every 0.125 s (8 per second)
    curve = [20 + 0.125 * i for i in range(101)]
    # THEN the first release and the steady rate between the 10th and the 90th percent are told apart
    assert release_pace(curve) == {"first_release": 20.0, "steady_rate": pytest.approx(8.0)}
    assert release_pace([]) == {"first_release": None, "steady_rate": None}


def test_a_bucket_drained_as_it_refills_is_never_full_and_idle_time_is_counted() -> None:
    # GIVEN a bucket of 2 tokens + 1 per second: 2 calls at once, then one a second
    assert full_bucket_seconds([0, 0, 1, 2, 3], burst=2, refill=1) == 0
    # WHEN nothing calls between 1 s and 6 s, it is full again after 2 s and wastes the 3 s after that
    assert full_bucket_seconds([0, 0, 1, 6], burst=2, refill=1) == pytest.approx(3)


def test_rank_correlation_is_one_in_order_and_minus_one_reversed() -> None:
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1)
    assert rank_correlation([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1)
    assert rank_correlation([1], [1]) is None


def test_the_receipt_log_notes_when_each_instance_first_reached_the_function() -> None:
    # GIVEN a handler module wrapped by the receipt log, on a sandbox clock, which drops the SDK's default
    # session before each cold start
    boto3.setup_default_session()
    earlier = boto3.DEFAULT_SESSION
    log = ReceiptLog(SandboxClock(), before_cold_start=fresh_sdk_default_session)
    seen: list[int] = []
    handler = log.factory(environment_factory("bench.baseline"))()
    # THEN the baseline's module built its clients on a session of its own, as in a fresh process
    assert boto3.DEFAULT_SESSION is not None and boto3.DEFAULT_SESSION is not earlier
    a, b = new_instance_id(), new_instance_id()

    def invoke(*instances: str) -> None:
        event = sqs_event(*(sqs_record(lifecycle_body(EC2InstanceId=i, LifecycleTransition="x")) for i in instances))
        seen.append(len(handler(event, None)["batchItemFailures"]))

    # WHEN a batch carries a, then a redelivery carries a again with b
    invoke(a)
    invoke(a, b)
    receipts = log.receipts()
    # THEN the handler saw both batches, and a keeps its first receipt, which alone includes the cold start
    assert seen == [0, 0]
    assert set(receipts) == {a, b}
    assert receipts[a].received <= receipts[b].received
    assert receipts[a].init_seconds > 0
    assert receipts[b].init_seconds == 0
