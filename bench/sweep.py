"""The sweep at scale (issue 12): one scheduled invocation over many served groups, against its call budget.

The fleet: ``groups`` Auto Scaling groups of ``per_group`` InService instances each, in their own Region of the
sandbox (nothing else lives there: DescribeAutoScalingGroups sees exactly these groups), every one with a
launch hook that notifies one queue (attached after the group launched, so no message exists), and every
instance named as the template says except a seeded ``unnamed_share``. Building it goes through the API like
any other scenario; it is the slow part (moto creates each instance one by one) and is timed apart.

The invocation is the schedule's: a fresh execution environment of ``handler.app`` (QUEUE_ARN the groups'
queue), AWS's ``Scheduled Event``, the stack's function timeout, the sandbox's latency and throttling as in the
scale-out runs. A second invocation in the same environment (hooks cached, nothing left to do) shows what every
later sweep costs. Calls are counted from the sandbox's journal against the budget of issue 12.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from bench.config import BenchConfig, SweepConfig, bucket_label
from bench.timeline import THROTTLING_CODES, backoff_seconds
from handler.naming import DEFAULT_TEMPLATE, InstanceFacts, compile_template
from sandbox.faults import AUTOSCALING, BucketSpec
from sandbox.lambda_context import LambdaContext
from sandbox.lambda_runtime import FunctionLogs, capture_function_output, environment, environment_factory
from scenarios import LAUNCH_TRANSITION, TEAM_TAGS, clients, create_hook_role

if TYPE_CHECKING:
    from sandbox.server import CallRecord, Sandbox

SWEEP_REGION = "us-west-2"
SERVICES = ("ec2", "autoscaling", "dynamodb")
DESCRIBE_CHUNK = 200  # instances (or names) per DescribeInstances filter, as EC2 allows
GROUPS_PER_PAGE = 100  # DescribeAutoScalingGroups' largest page
WRITE_ACTIONS = ("CreateTags", "DeleteTags", "CompleteLifecycleAction")
TEMPLATE = compile_template(DEFAULT_TEMPLATE)  # the function's default NAME_TEMPLATE: the names it expects


def run_sweep(sandbox: Sandbox, config: BenchConfig, out: TextIO | None = None) -> dict[str, Any]:
    """Builds the fleet, then invokes the function twice as the schedule does; every number of the section."""
    sweep = config.sweep or SweepConfig()
    bucket = config.autoscaling_buckets[0]
    seed = config.seeds[0]
    if out is not None:
        print(
            f"  sweep: building {sweep.groups} groups x {sweep.per_group} instances in {SWEEP_REGION} ...",
            file=out,
            flush=True,
        )
    built = time.monotonic()
    sandbox.controls.set_latency()  # building is set-up, not measured: no injected latency
    try:
        fleet = build_fleet(sandbox, sweep, seed)
    finally:
        sandbox.controls.set_latency(base_ms=config.latency_ms)
    setup_seconds = time.monotonic() - built
    if out is not None:
        print(f"  sweep: fleet built in {setup_seconds:.1f} s; invoking the function ...", file=out, flush=True)
    logs = FunctionLogs()
    variables = {"QUEUE_ARN": fleet.queue_arn, "AWS_DEFAULT_REGION": SWEEP_REGION, "AWS_REGION": SWEEP_REGION}
    with environment(variables), capture_function_output(logs):
        began = time.monotonic()
        handler = environment_factory("handler.app")()
        init_seconds = time.monotonic() - began
        controls = sandbox.controls
        random.seed(seed)
        controls.reseed(seed)
        controls.set_throttling(rate_scale=config.rate_scale, buckets={AUTOSCALING: BucketSpec(*bucket)})
        unnamed = set(fleet.unnamed)
        try:
            first = _invoke(sandbox, handler, sweep, config.latency_ms, to_name=len(unnamed))
            named_first = set(first.pop("written"))
            second = _invoke(sandbox, handler, sweep, config.latency_ms, to_name=len(unnamed - named_first))
        finally:
            controls.set_throttling(False)
    first["named_the_unnamed"] = len(named_first & unnamed)
    first["named_others"] = len(named_first - unnamed)
    second["named_the_unnamed"] = len(set(second.pop("written")) & (unnamed - named_first))
    first["init_seconds"] = round(init_seconds, 3)
    return {
        "groups": sweep.groups,
        "instances": sweep.instances,
        "unnamed": len(unnamed),
        "region": SWEEP_REGION,
        "autoscaling_bucket": bucket_label(bucket),
        "seed": seed,
        "function_timeout": sweep.function_timeout,
        "setup_seconds": round(setup_seconds, 1),
        "first": first,
        "second": second,
    }


class SweepFleet:
    """What the scenario built: the served queue and the instances left unnamed."""

    def __init__(self, queue_arn: str, groups: list[str], unnamed: list[str]) -> None:
        self.queue_arn = queue_arn
        self.groups = groups
        self.unnamed = unnamed


def build_fleet(sandbox: Sandbox, sweep: SweepConfig, seed: int) -> SweepFleet:
    """Groups launched without a hook (InService at once), named through CreateTags except a seeded share,
    then a launch hook to one queue attached to each: the sweep's starting point."""
    if not 1 <= sweep.groups <= 250 or not 1 <= sweep.per_group <= 250:
        raise ValueError("the sweep fleet takes 1..250 groups of 1..250 instances (one /24 subnet per group)")
    prefix = f"bench-sweep-{uuid.uuid4().hex[:6]}"
    aws = clients(sandbox.endpoint_url, region=SWEEP_REGION)
    ec2, sqs, autoscaling, iam = aws["ec2"], aws["sqs"], aws["autoscaling"], aws["iam"]
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    template = f"{prefix}-lt"
    ec2.create_launch_template(
        LaunchTemplateName=template, LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )
    queue_url = sqs.create_queue(QueueName=f"{prefix}-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role_arn = create_hook_role(iam, f"{prefix}-hook-role")
    groups = [f"{prefix}-{index:03d}" for index in range(sweep.groups)]
    for index, group in enumerate(groups):
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{index}.0/24")["Subnet"]["SubnetId"]
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=group,
            LaunchTemplate={"LaunchTemplateName": template, "Version": "$Latest"},
            MinSize=0,
            MaxSize=sweep.per_group,
            DesiredCapacity=sweep.per_group,
            VPCZoneIdentifier=subnet,
            Tags=[
                {
                    "Key": k,
                    "Value": v,
                    "PropagateAtLaunch": True,
                    "ResourceId": group,
                    "ResourceType": "auto-scaling-group",
                }
                for k, v in TEAM_TAGS.items()
            ],
        )
    members = {
        instance["InstanceId"]: group["AutoScalingGroupName"]
        for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate(AutoScalingGroupNames=groups)
        for group in page["AutoScalingGroups"]
        for instance in group["Instances"]
    }
    ids = sorted(members)
    unnamed = sorted(random.Random(seed).sample(ids, sweep.unnamed))
    left = set(unnamed)
    for start in range(0, len(ids), DESCRIBE_CHUNK):
        chunk = ids[start : start + DESCRIBE_CHUNK]
        reservations = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": chunk}])["Reservations"]
        for instance in (i for r in reservations for i in r["Instances"] if i["InstanceId"] not in left):
            name = _expected_name(instance, members[instance["InstanceId"]])
            ec2.create_tags(Resources=[instance["InstanceId"]], Tags=[{"Key": "Name", "Value": name}])
    for group in groups:
        autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=group,
            LifecycleHookName=f"{prefix}-launch",
            LifecycleTransition=LAUNCH_TRANSITION,
            NotificationTargetARN=queue_arn,
            RoleARN=role_arn,
            HeartbeatTimeout=300,
        )
    return SweepFleet(queue_arn, groups, unnamed)


def _expected_name(instance: dict[str, Any], group: str) -> str:
    """What the function's template makes of the instance (the fleet is named the way the sweep expects)."""
    name = TEMPLATE.render(
        InstanceFacts(
            instance_id=instance["InstanceId"],
            private_ip=instance.get("PrivateIpAddress"),
            tags={tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])},
            az=instance.get("Placement", {}).get("AvailabilityZone"),
            asg_name=group,
            region=SWEEP_REGION,
        )
    )
    if not isinstance(name, str):
        raise RuntimeError(f"the sweep fleet cannot be named: {name}")
    return name


def _invoke(sandbox: Sandbox, handler: Any, sweep: SweepConfig, latency_ms: float, to_name: int) -> dict[str, Any]:
    """One scheduled invocation; ``to_name``: instances of the fleet without a name when it starts."""
    mark = len(sandbox.journal.records())
    context = LambdaContext(function_name="bench-sweep", timeout_seconds=sweep.function_timeout)
    started, cpu_started = time.monotonic(), time.process_time()
    summary = handler(scheduled_event(), context)
    wall, cpu = time.monotonic() - started, time.process_time() - cpu_started
    calls = [c for c in sandbox.journal.records()[mark:] if c.service in SERVICES]
    in_calls = sum(c.ended_at - c.started_at for c in calls)
    by_action: dict[str, float] = defaultdict(float)
    for c in calls:
        by_action[_kind(c)] += c.ended_at - c.started_at
    beyond_latency = sum(max(0.0, c.ended_at - c.started_at - latency_ms / 1000) for c in calls)
    written = [r for c in calls if c.action == "CreateTags" and c.status < 400 for r in c.resources]
    return {
        "seconds": round(wall, 3),
        "in_calls_seconds": round(in_calls, 3),
        "in_calls_seconds_by_action": {
            kind: round(seconds, 3) for kind, seconds in sorted(by_action.items(), key=lambda kv: -kv[1])
        },
        "sandbox_beyond_latency_seconds": round(beyond_latency, 3),
        "backoff_seconds": round(backoff_seconds(sorted(calls, key=lambda c: c.started_at)), 3),
        "outside_calls_seconds": round(wall - in_calls, 3),
        "process_cpu_share": round(cpu / wall, 3) if wall > 0 else 0.0,
        "summary": summary,
        "calls": dict(sorted(Counter(_kind(c) for c in calls if c.status < 400).items())),
        "throttled": dict(sorted(Counter(_kind(c) for c in calls if c.error_code in THROTTLING_CODES).items())),
        "budget": budget(calls, sweep, to_name),
        "written": written,
    }


def scheduled_event() -> dict[str, Any]:
    """What an EventBridge schedule sends to its target (no Records)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": SWEEP_REGION,
        "resources": [f"arn:aws:events:{SWEEP_REGION}:123456789012:rule/asg-namer-sweep"],
        "detail": {},
    }


def budget(calls: Sequence[CallRecord], sweep: SweepConfig, to_name: int) -> list[dict[str, Any]]:
    """Accepted calls by kind against issue 12's budget for a fleet with ``to_name`` instances to name (and none
    stuck in Pending:Wait); anything outside it is listed with a limit of 0."""
    used = Counter(_kind(c) for c in calls if c.status < 400)
    writes = sum(used.pop(action, 0) for action in WRITE_ACTIONS)
    names_checked = used.pop("DescribeInstances (collision check)", 0)
    limits = [
        ("DescribeAutoScalingGroups pages", "ceil(groups/100)", math.ceil(sweep.groups / GROUPS_PER_PAGE)),
        ("DescribeLifecycleHooks", "at most one per group", sweep.groups),
        ("DescribeInstances (facts)", "ceil(instances/200)", math.ceil(sweep.instances / DESCRIBE_CHUNK)),
    ]
    rows = []
    for kind, rule, limit in limits:
        count = used.pop(kind.removesuffix(" pages"), 0)
        rows.append({"calls": kind, "rule": rule, "limit": limit, "used": count, "ok": count <= limit})
    rows.append(
        {
            "calls": "DescribeInstances (collision check)",
            "rule": "one per 200 names written (the handler's collision check)",
            "limit": math.ceil(to_name / DESCRIBE_CHUNK),
            "used": names_checked,
            "ok": names_checked <= math.ceil(to_name / DESCRIBE_CHUNK),
        }
    )
    rows.append(
        {
            "calls": "writes (" + ", ".join(WRITE_ACTIONS) + ")",
            "rule": "one per instance it changes",
            "limit": to_name,
            "used": writes,
            "ok": writes <= to_name,
        }
    )
    for kind, count in sorted(used.items()):
        rows.append({"calls": kind, "rule": "not in the budget", "limit": 0, "used": count, "ok": count == 0})
    return rows


def _kind(call: CallRecord) -> str:
    """The action, with DescribeInstances told apart by what it filters on."""
    if call.action != "DescribeInstances":
        return call.action
    by_id = any(key.startswith("InstanceId.") for key in call.params)
    names = [values for key, values in call.params.items() if key.endswith(".Name")]
    facts = by_id or ["instance-id"] in names
    return "DescribeInstances (facts)" if facts else "DescribeInstances (collision check)"
