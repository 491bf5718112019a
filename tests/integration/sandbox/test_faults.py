"""The sandbox's realism and fault controls, seen the way the Lambda sees them: through plain boto3 over HTTP."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest
from botocore.config import Config

from sandbox import Sandbox
from sandbox.api_call import ApiCall
from sandbox.clock import SandboxClock
from sandbox.faults import (
    AUTOSCALING,
    AUTOSCALING_BUCKET,
    DEFAULT_BUCKETS,
    EC2_BUCKETS,
    EC2_CREATE_TAGS,
    EC2_DELETE_TAGS,
    EC2_MUTATING,
    EC2_NON_MUTATING,
    EC2_UNFILTERED_DESCRIBE_INSTANCES,
    BucketSpec,
    ErrorKind,
    FaultControls,
    bucket_for,
)

# botocore's retries "max_attempts" counts retries after the first try; total_max_attempts=1 means one try only.
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
AMI = "ami-12c6146b"


@pytest.fixture
def ec2(sandbox: Sandbox) -> Any:
    return sandbox.client("ec2", config=NO_RETRY)


@pytest.fixture
def instance_id(ec2: Any) -> str:
    return str(ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"])


def make_call(service: str, action: str, region: str = "us-east-1", **params: str) -> ApiCall:
    return ApiCall(service, action, region, service == "sqs", {key: [value] for key, value in params.items()})


class FakeTime:
    """A monotonic clock and a sleep that only record, so nothing here depends on wall time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def offline_controls(seed: int | None = None) -> tuple[FaultControls, FakeTime]:
    fake = FakeTime()
    return FaultControls(SandboxClock(), seed=seed, monotonic=fake.monotonic, sleep=fake.sleep), fake


def error_of(exc_info: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, int, str]:
    response = exc_info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


# --- all off by default ---------------------------------------------------------------------------------


def test_fresh_controls_inject_nothing() -> None:
    # GIVEN controls nobody configured
    fresh, fake = offline_controls()

    # WHEN far more calls than any bucket holds arrive at once
    calls = [make_call("ec2", "CreateTags")] * 300 + [make_call("autoscaling", "DescribeAutoScalingGroups")] * 100
    rejections = [fresh.before_call(call) for call in calls]

    # THEN none is delayed, throttled or failed, and nothing reports as active
    assert rejections == [None] * len(calls)
    assert fake.sleeps == []
    assert fresh.active_faults() == {}
    assert not fresh.ec2_views_active()
    stats = fresh.stats()
    assert (stats["throttled"]["total"], stats["injected"]["total"], stats["latency"]["delayed_calls"]) == (0, 0, 0)
    assert stats["calls"] == len(calls)


def test_reset_turns_every_fault_off_and_zeroes_counters(controls: FaultControls, ec2: Any) -> None:
    # GIVEN every kind of fault switched on and one injected error counted
    controls.set_latency(base_ms=1)
    controls.set_throttling(rate_scale=5)
    controls.inject_error("ec2", "DescribeVpcs", ErrorKind.HTTP500, count=1)
    controls.set_private_ip_delay(60)
    controls.set_eventual_consistency(5)
    with pytest.raises(botocore.exceptions.ClientError):
        ec2.describe_vpcs()
    # (the count-1 rule is used up, so it no longer shows as active)
    assert set(controls.active_faults()) == {"latency", "throttling", "private_ip_delay", "eventual_consistency"}

    # WHEN reset
    controls.reset()

    # THEN nothing is active, counters are zero and the buckets have their documented numbers again
    assert controls.active_faults() == {}
    assert controls.stats()["injected"]["total"] == 0
    assert controls.rate_scale == 1.0
    assert controls.bucket_specs() == dict(DEFAULT_BUCKETS)
    assert ec2.describe_vpcs()["Vpcs"] is not None


# --- latency ---------------------------------------------------------------------------------------------


def test_latency_is_applied_and_the_call_still_answered(controls: FaultControls, ec2: Any) -> None:
    # GIVEN 150 ms per call
    controls.set_latency(base_ms=150)

    # WHEN a call is made
    vpcs = ec2.describe_vpcs()["Vpcs"]

    # THEN it is answered and the controls record having slept for it
    assert isinstance(vpcs, list)
    latency = controls.stats()["latency"]
    assert latency["delayed_calls"] == 1
    assert latency["total_ms"] == pytest.approx(150)


def test_latency_jitter_and_spikes_are_reproducible_with_a_seed() -> None:
    # GIVEN two controls seeded alike, with jitter and frequent spikes
    first, first_time = offline_controls(seed=42)
    second, second_time = offline_controls(seed=42)
    for controls in (first, second):
        controls.set_latency(base_ms=10, jitter_ms=5, spike_probability=0.3, spike_ms=400)

    # WHEN the same calls pass both
    for controls in (first, second):
        for _ in range(50):
            controls.before_call(make_call("ec2", "DescribeInstances"))

    # THEN both slept exactly the same, within the configured range, with some spikes and some not
    assert first_time.sleeps == second_time.sleeps
    assert all(0.010 <= s <= 0.415 for s in first_time.sleeps)
    spikes = first.stats()["latency"]["spikes"]
    assert 0 < spikes < 50
    assert sum(1 for s in first_time.sleeps if s >= 0.41) == spikes


def test_latency_can_be_limited_to_some_services() -> None:
    # GIVEN latency for EC2 only
    controls, fake = offline_controls()
    controls.set_latency(base_ms=20, services=["ec2"])

    # WHEN an SQS call and an EC2 call arrive
    controls.before_call(make_call("sqs", "ReceiveMessage"))
    controls.before_call(make_call("ec2", "CreateTags"))

    # THEN only the EC2 call slept
    assert fake.sleeps == [pytest.approx(0.020)]


# --- throttling ------------------------------------------------------------------------------------------


def test_documented_ec2_buckets_and_assumed_autoscaling_bucket() -> None:
    # THEN the defaults are the numbers of the EC2 throttling table (burst, refill per second)
    assert {name: (spec.burst, spec.refill_per_second) for name, spec in EC2_BUCKETS.items()} == {
        EC2_NON_MUTATING: (100, 20),
        EC2_UNFILTERED_DESCRIBE_INSTANCES: (50, 10),
        EC2_MUTATING: (50, 5),
        EC2_CREATE_TAGS: (100, 10),
        EC2_DELETE_TAGS: (100, 10),
    }
    # AND Auto Scaling has one (assumed) bucket, and the defaults are what fresh controls use
    assert DEFAULT_BUCKETS[AUTOSCALING] == AUTOSCALING_BUCKET == BucketSpec(40, 8)
    assert offline_controls()[0].bucket_specs() == dict(DEFAULT_BUCKETS)


@pytest.mark.parametrize(
    ("call", "bucket"),
    [
        (make_call("ec2", "DescribeInstances"), EC2_UNFILTERED_DESCRIBE_INSTANCES),
        (make_call("ec2", "DescribeInstances", **{"InstanceId.1": "i-0123"}), EC2_NON_MUTATING),
        (make_call("ec2", "DescribeInstances", **{"Filter.1.Name": "tag:Name"}), EC2_NON_MUTATING),
        (make_call("ec2", "DescribeInstances", MaxResults="5"), EC2_NON_MUTATING),
        (make_call("ec2", "DescribeTags"), EC2_NON_MUTATING),
        (make_call("ec2", "GetConsoleOutput"), EC2_NON_MUTATING),
        (make_call("ec2", "RunInstances"), EC2_MUTATING),
        (make_call("ec2", "TerminateInstances"), EC2_MUTATING),
        (make_call("ec2", "CreateTags"), EC2_CREATE_TAGS),
        (make_call("ec2", "DeleteTags"), EC2_DELETE_TAGS),
        (make_call("autoscaling", "CompleteLifecycleAction"), AUTOSCALING),
        (make_call("autoscaling", "DescribeAutoScalingGroups"), AUTOSCALING),
        (make_call("sqs", "ReceiveMessage"), None),
        (make_call("logs", "PutLogEvents"), None),
    ],
)
def test_calls_draw_from_the_documented_bucket(call: ApiCall, bucket: str | None) -> None:
    assert bucket_for(call) == bucket


def test_fourth_create_tags_from_a_three_token_bucket_is_throttled(
    controls: FaultControls, ec2: Any, instance_id: str
) -> None:
    # GIVEN a CreateTags bucket of 3 that does not refill
    controls.set_throttling(buckets={EC2_CREATE_TAGS: BucketSpec(3, 0)})

    # WHEN four CreateTags arrive
    for n in range(3):
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "n", "Value": str(n)}])
    with pytest.raises(botocore.exceptions.ClientError) as exc_info:
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "n", "Value": "3"}])

    # THEN the fourth is EC2's throttling error, counted per bucket and per action
    assert error_of(exc_info) == ("RequestLimitExceeded", 503, "Request limit exceeded.")
    throttled = controls.stats()["throttled"]
    assert throttled == {"total": 1, "by_bucket": {EC2_CREATE_TAGS: 1}, "by_action": {"ec2:CreateTags": 1}}


def test_unfiltered_and_filtered_describe_instances_use_different_buckets(controls: FaultControls, ec2: Any) -> None:
    # GIVEN a one-token unfiltered-DescribeInstances bucket, the non-mutating one left generous
    controls.set_throttling(buckets={EC2_UNFILTERED_DESCRIBE_INSTANCES: BucketSpec(1, 0)})
    ec2.describe_instances()

    # WHEN another unfiltered describe and a filtered one arrive
    with pytest.raises(botocore.exceptions.ClientError) as exc_info:
        ec2.describe_instances()
    filtered = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])

    # THEN only the unfiltered one is throttled
    assert error_of(exc_info)[0] == "RequestLimitExceeded"
    assert "Reservations" in filtered
    assert controls.stats()["throttled"]["by_bucket"] == {EC2_UNFILTERED_DESCRIBE_INSTANCES: 1}


def test_autoscaling_throttling_has_its_own_error_shape(controls: FaultControls, sandbox: Sandbox) -> None:
    # GIVEN a one-token Auto Scaling bucket
    autoscaling = sandbox.client("autoscaling", config=NO_RETRY)
    controls.set_throttling(buckets={AUTOSCALING: BucketSpec(1, 0)})
    autoscaling.describe_auto_scaling_groups()

    # WHEN a second Auto Scaling call (a different action: the bucket is shared) arrives
    with pytest.raises(botocore.exceptions.ClientError) as exc_info:
        autoscaling.describe_lifecycle_hooks(AutoScalingGroupName="any")

    # THEN it is Auto Scaling's throttling error: Throttling, HTTP 400, "Rate exceeded"
    assert error_of(exc_info) == ("Throttling", 400, "Rate exceeded")
    assert controls.stats()["throttled"]["by_action"] == {"autoscaling:DescribeLifecycleHooks": 1}


def test_buckets_are_per_region_and_sqs_is_never_throttled(controls: FaultControls, sandbox: Sandbox) -> None:
    # GIVEN empty non-refilling buckets everywhere, except one token of non-mutating EC2 calls
    controls.set_throttling(buckets={name: BucketSpec(0, 0) for name in DEFAULT_BUCKETS} | {EC2_NON_MUTATING: (1, 0)})
    east = sandbox.client("ec2", region_name="us-east-1", config=NO_RETRY)
    west = sandbox.client("ec2", region_name="us-west-2", config=NO_RETRY)
    east.describe_vpcs()

    # WHEN us-east-1 asks again, us-west-2 asks for the first time, and SQS is used
    with pytest.raises(botocore.exceptions.ClientError):
        east.describe_vpcs()
    west_vpcs = west.describe_vpcs()["Vpcs"]
    queues = sandbox.client("sqs", config=NO_RETRY).list_queues()

    # THEN only us-east-1's bucket is empty, and SQS answers
    assert isinstance(west_vpcs, list)
    assert queues["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_rate_scale_multiplies_refill_and_is_reported() -> None:
    # GIVEN a one-token bucket refilling 1 per second, sped up ten times
    controls, fake = offline_controls()
    controls.set_throttling(rate_scale=10, buckets={EC2_MUTATING: BucketSpec(1, 1)})
    call = make_call("ec2", "RunInstances")
    assert controls.before_call(call) is None

    # WHEN a second call comes at once, and a third 0.1 real seconds later
    second = controls.before_call(call)
    fake.now += 0.1
    third = controls.before_call(call)

    # THEN the second is throttled and the third finds the token refilled at 10 per second
    assert second is not None and second.code == "RequestLimitExceeded"
    assert third is None
    assert controls.stats()["rate_scale"] == 10
    assert controls.active_faults()["throttling"]["rate_scale"] == 10


# --- scheduled errors ------------------------------------------------------------------------------------


def call_service(sandbox: Sandbox, service: str) -> Any:
    client = sandbox.client(service, config=NO_RETRY)
    if service == "ec2":
        return client.describe_vpcs()
    if service == "autoscaling":
        return client.describe_auto_scaling_groups()
    return client.list_queues()


@pytest.mark.parametrize(
    ("service", "kind", "code", "status"),
    [
        ("ec2", ErrorKind.HTTP500, "InternalError", 500),
        ("ec2", ErrorKind.HTTP503, "Unavailable", 503),
        ("ec2", ErrorKind.REQUEST_LIMIT_EXCEEDED, "RequestLimitExceeded", 503),
        ("autoscaling", ErrorKind.HTTP500, "InternalFailure", 500),
        ("autoscaling", ErrorKind.HTTP503, "ServiceUnavailable", 503),
        ("autoscaling", ErrorKind.THROTTLING, "Throttling", 400),
        ("sqs", ErrorKind.HTTP500, "InternalFailure", 500),
        ("sqs", ErrorKind.HTTP503, "ServiceUnavailable", 503),
    ],
)
def test_scheduled_error_reaches_boto3_with_its_code_and_status(
    controls: FaultControls, sandbox: Sandbox, service: str, kind: ErrorKind, code: str, status: int
) -> None:
    # GIVEN one scheduled error of this kind on every action of the service
    rule = controls.inject_error(service, "*", kind, count=1)

    # WHEN the service is called twice
    with pytest.raises(botocore.exceptions.ClientError) as exc_info:
        call_service(sandbox, service)
    call_service(sandbox, service)

    # THEN the first call fails with the AWS code and HTTP status, the second is answered, and it is counted
    assert error_of(exc_info)[:2] == (code, status)
    injected = controls.stats()["injected"]
    assert injected["by_kind"] == {kind.value: 1}
    assert injected["by_rule"] == {rule: 1}


def test_custom_error_rule(controls: FaultControls, ec2: Any) -> None:
    # GIVEN a rule with its own code, status and message
    controls.inject_error(
        "ec2",
        "DescribeVpcs",
        "custom",
        count=1,
        status=403,
        code="UnauthorizedOperation",
        message="You are not allowed.",
    )

    # WHEN called
    with pytest.raises(botocore.exceptions.ClientError) as exc_info:
        ec2.describe_vpcs()

    # THEN boto3 sees exactly that
    assert error_of(exc_info) == ("UnauthorizedOperation", 403, "You are not allowed.")


def test_connection_reset_reaches_botocore_as_a_connection_error(
    controls: FaultControls, sandbox: Sandbox, ec2: Any
) -> None:
    # GIVEN one reset connection on DescribeVpcs
    controls.inject_error("ec2", "DescribeVpcs", ErrorKind.CONNECTION_RESET, count=1)

    # WHEN called
    with pytest.raises(botocore.exceptions.BotoCoreError) as exc_info:
        ec2.describe_vpcs()

    # THEN botocore reports a dropped connection (not an HTTP answer), and the journal shows the reset
    assert isinstance(exc_info.value, botocore.exceptions.HTTPClientError | botocore.exceptions.EndpointConnectionError)
    assert sandbox.journal.records()[-1].error_code == "ConnectionReset"
    assert controls.stats()["injected"]["by_kind"] == {"connection_reset": 1}
    assert isinstance(ec2.describe_vpcs()["Vpcs"], list)


def test_error_rule_lets_the_first_calls_through_then_fails_count_calls(controls: FaultControls, ec2: Any) -> None:
    # GIVEN a rule failing 2 DescribeVpcs after letting 1 through
    controls.inject_error("ec2", "DescribeVpcs", ErrorKind.HTTP500, count=2, after=1)

    # WHEN DescribeVpcs is called four times, with a DescribeSubnets in between
    outcomes = []
    for _ in range(4):
        try:
            ec2.describe_vpcs()
            outcomes.append("ok")
        except botocore.exceptions.ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
        ec2.describe_subnets()

    # THEN calls 2 and 3 failed, other actions were untouched, and the used-up rule is no longer active
    assert outcomes == ["ok", "InternalError", "InternalError", "ok"]
    assert controls.stats()["injected"]["by_action"] == {"ec2:DescribeVpcs": 2}
    assert "error_rules" not in controls.active_faults()


def test_probabilistic_rules_are_reproducible_with_a_seed() -> None:
    # GIVEN two controls seeded alike with a 50 % error rule
    patterns = []
    for _ in range(2):
        controls, _fake = offline_controls(seed=7)
        controls.inject_error("ec2", "CreateTags", ErrorKind.HTTP503, probability=0.5)
        # WHEN the same 60 calls pass
        patterns.append([controls.before_call(make_call("ec2", "CreateTags")) is not None for _ in range(60)])

    # THEN both failed the same calls, some but not all
    assert patterns[0] == patterns[1]
    assert 0 < sum(patterns[0]) < 60


def test_rules_and_buckets_reject_unknown_or_invalid_settings() -> None:
    controls, _fake = offline_controls()
    with pytest.raises(ValueError, match="unknown buckets"):
        controls.set_throttling(buckets={"ec2:everything": BucketSpec(1, 1)})
    with pytest.raises(ValueError):
        controls.inject_error("ec2", "CreateTags", "no-such-kind")
    with pytest.raises(ValueError, match="custom"):
        controls.inject_error("ec2", "CreateTags", ErrorKind.CUSTOM)
    with pytest.raises(ValueError, match="probability"):
        controls.inject_error("ec2", "CreateTags", probability=1.5)
