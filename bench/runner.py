"""The scale-out benchmark: asg-namer's handler and the naive baseline through the real path, in the sandbox.

For each burst size N and each candidate: a fresh scenario world, an SQS trigger with the same settings
for every candidate, ``SetDesiredCapacity(N)``, then wait until every launched instance has left
``Pending:Wait`` (or a timeout). Everything is read from the sandbox's own journals: lifecycle events
(launch, InService, Terminated, on the sandbox clock), the HTTP call journal (API calls by action) and
the fault controls' counters (throttling errors). See docs/benchmarks.md.

The cold-start and memory probes are ``bench.footprint``'s; what is PASS or MISS, ``bench.targets``';
the table, JSON and chart, ``bench.report``'s.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any, TextIO

from bench.config import ASG_NAMER, BASELINE, BenchConfig
from bench.footprint import cold_start, peak_memory
from bench.results import BenchResults, RunResult
from sandbox.event_source_mapping import REPORT_BATCH_ITEM_FAILURES, EventSourceMappingSettings
from sandbox.faults import AUTOSCALING, EC2_CREATE_TAGS, EC2_DELETE_TAGS, EC2_NON_MUTATING, BucketSpec
from sandbox.lambda_context import FunctionSettings
from sandbox.lambda_runtime import FunctionLogs, capture_function_output, environment_factory
from sandbox.lifecycle import LifecycleEvent
from sandbox.server import CallRecord, Sandbox
from sandbox.trigger import SqsTrigger, TriggerStats
from scenarios import World, build_world, clients

CANDIDATE_MODULES = {ASG_NAMER: "handler.app", BASELINE: "bench.baseline"}
# The handler's own AWS calls; SQS calls are the trigger's (Lambda's poller), reported apart.
HANDLER_SERVICES = ("ec2", "autoscaling")
RUNNER_ACTIONS = frozenset({("autoscaling", "SetDesiredCapacity")})
# What each candidate's path calls once per instance, by bucket (the floor counts only these).
PATH_BUCKETS = {
    ASG_NAMER: (EC2_CREATE_TAGS, AUTOSCALING),
    BASELINE: (EC2_NON_MUTATING, EC2_DELETE_TAGS, EC2_CREATE_TAGS, AUTOSCALING),
}
PENDING_WAIT, IN_SERVICE, TERMINATED = "Pending:Wait", "InService", "Terminated"


# --------------------------------------------------------------------------------------------- the floor


def floor_seconds(n: int, candidate: str, specs: Mapping[str, BucketSpec], rate_scale: float) -> dict[str, float]:
    """Seconds the token buckets alone need for N instances: one call per instance from each bucket of
    the path; a bucket gives ``burst`` at once, then ``refill`` per second (times ``rate_scale``)."""
    floors = {}
    for name in PATH_BUCKETS[candidate]:
        spec = specs[name]
        refill = spec.refill_per_second * rate_scale
        floors[name] = max(0.0, (n - spec.burst) / refill) if refill > 0 else math.inf
    return floors


# --------------------------------------------------------------------------------------------- one run


def run_one(sandbox: Sandbox, candidate: str, n: int, config: BenchConfig, out: TextIO | None = None) -> RunResult:
    """One scale-out of N instances handled by ``candidate``; the sandbox's latency is already set."""
    name = f"bench-{candidate}-{n}-{uuid.uuid4().hex[:6]}"
    controls = sandbox.controls
    controls.set_throttling(False)
    world = build_world(
        name,
        endpoint_url=sandbox.endpoint_url,
        visibility_timeout=config.visibility_timeout,
        heartbeat_timeout=config.heartbeat_timeout,
    )
    aws = clients(sandbox.endpoint_url)
    floors = floor_seconds(n, ASG_NAMER, controls.bucket_specs(), config.rate_scale)
    floor = max(floors.values())
    timeout = config.run_timeout_for(floor)
    logs = FunctionLogs()
    with capture_function_output(logs):
        trigger = SqsTrigger(
            world.queue_url,
            handler_factory=environment_factory(CANDIDATE_MODULES[candidate]),
            function=FunctionSettings(f"bench-{candidate}", timeout=config.function_timeout),
            mapping=EventSourceMappingSettings(
                batch_size=config.batch_size,
                maximum_batching_window_in_seconds=config.batching_window_seconds,
                maximum_concurrency=config.maximum_concurrency,
                function_response_types=(REPORT_BATCH_ITEM_FAILURES,),
            ),
            endpoint_url=sandbox.endpoint_url,
        )
        trigger.start()
        try:
            controls.set_throttling(rate_scale=config.rate_scale)  # buckets restart full
            controls.reset_stats()
            journal_mark = len(sandbox.journal.records())
            started = time.monotonic()
            aws["autoscaling"].set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=n)
            timed_out = not _wait_released(sandbox, world, n, started, timeout, out)
            wall = time.monotonic() - started
            calls = sandbox.journal.records()[journal_mark:]
            throttling = controls.stats()["throttled"]
            trigger.wait_until_idle(timeout=2 if timed_out else 15)
        finally:
            trigger.stop(timeout=5)
            controls.set_throttling(False)
    stats = trigger.stats()
    events = sandbox.lifecycle.events(asg=world.asg_name)
    return _result(candidate, n, world, aws, events, calls, throttling, stats, floors, timed_out, wall)


def _wait_released(sandbox: Sandbox, world: World, n: int, started: float, timeout: float, out: TextIO | None) -> bool:
    """Polls the lifecycle journal (in-process: no API call, no token taken) until N are InService
    and none waits."""
    next_report = started + 5
    while True:
        events = sandbox.lifecycle.events(asg=world.asg_name)
        launched = {e.instance_id for e in events if e.cause == "launch"}
        finished = {e.instance_id for e in events if e.from_state == PENDING_WAIT}
        in_service = sum(1 for e in events if e.to_state == IN_SERVICE)
        if in_service >= n and launched <= finished:
            return True
        now = time.monotonic()
        if now - started >= timeout:
            return False
        if out is not None and now >= next_report:
            print(
                f"    {now - started:6.1f}s  launched {len(launched):4d}  released {len(finished):4d}",
                file=out,
                flush=True,
            )
            next_report = now + 5
        time.sleep(0.1)


def _result(
    candidate: str,
    n: int,
    world: World,
    aws: dict[str, Any],
    events: Sequence[LifecycleEvent],
    calls: Sequence[CallRecord],
    throttling: dict[str, Any],
    stats: TriggerStats,
    floors: dict[str, float],
    timed_out: bool,
    wall: float,
) -> RunResult:
    launched: dict[str, float] = {}
    finished: dict[str, tuple[float, str, str | None]] = {}
    for event in events:
        if event.cause == "launch":
            launched.setdefault(event.instance_id, event.time)
        elif event.from_state == PENDING_WAIT:
            finished[event.instance_id] = (event.time, event.to_state, event.tags.get("Name"))
    latencies = sorted(finished[i][0] - launched[i] for i in launched if i in finished and finished[i][1] == IN_SERVICE)
    release = max(t for t, _, _ in finished.values()) - min(launched.values()) if finished and launched else None
    accepted: Counter[str] = Counter()
    attempts: Counter[str] = Counter()
    sqs = 0
    for call in calls:
        if call.service == "sqs":
            sqs += 1
        if call.service not in HANDLER_SERVICES or (call.service, call.action) in RUNNER_ACTIONS:
            continue
        attempts[call.action] += 1
        if call.status < 400:
            accepted[call.action] += 1
    dlq_attributes = aws["sqs"].get_queue_attributes(
        QueueUrl=world.dlq_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    floor = max(floors.values())
    return RunResult(
        candidate=candidate,
        instances=n,
        release_seconds=_round(release),
        floor_seconds=round(floor, 3),
        floor_by_bucket={k: round(v, 3) for k, v in floors.items()},
        ratio_to_floor=_round(release / floor) if release is not None and floor > 0 else None,
        p50_seconds=_round(_percentile(latencies, 50)),
        p99_seconds=_round(_percentile(latencies, 99)),
        calls_per_instance=_per_instance(accepted, n),
        attempts_per_instance=_per_instance(attempts, n),
        sqs_calls_per_instance=round(sqs / n, 3),
        throttled=int(throttling["total"]),
        throttled_by_action=dict(throttling["by_action"]),
        records_retried=stats.records_failed + stats.records_in_failed_batches,
        invocations=stats.invocations,
        released=len(finished),
        in_service=sum(1 for _, state, _ in finished.values() if state == IN_SERVICE),
        unnamed=sum(1 for _, state, name in finished.values() if state == IN_SERVICE and not name),
        lost=sum(1 for i in launched if i not in finished),
        abandoned=sum(1 for _, state, _ in finished.values() if state == TERMINATED),
        dlq=sum(int(v) for v in dlq_attributes.values()),
        timed_out=timed_out,
        wall_seconds=round(wall, 3),
    )


def _per_instance(counts: Counter[str], n: int) -> dict[str, float]:
    result = {action: round(count / n, 3) for action, count in sorted(counts.items())}
    result["total"] = round(sum(counts.values()) / n, 3)
    return result


def _percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(values)))
    return values[rank - 1]


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------------------------------- the whole bench


def run_benchmark(config: BenchConfig, out: TextIO | None = None) -> BenchResults:
    """Starts an in-process sandbox, runs every (N, candidate), then the cold-start probes."""
    with Sandbox() as sandbox:
        os.environ.update(sandbox.env())
        controls = sandbox.controls
        controls.reset()
        controls.reseed(config.seed)
        controls.set_latency(base_ms=config.latency_ms)
        settings = {
            **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
            "clock_scale": sandbox.clock.scale,
            "buckets": {k: asdict(v) for k, v in controls.bucket_specs().items()},
            "note": "bucket refills are multiplied by rate_scale; floor_seconds is already divided by it",
        }
        results = BenchResults(settings)
        for n in config.sizes:
            for candidate in config.candidates:
                if out is not None:
                    print(f"  {candidate} N={n} ...", file=out, flush=True)
                run = run_one(sandbox, candidate, n, config, out)
                results.runs.append(run)
                if out is not None:
                    print(
                        f"  {candidate} N={n}: released {run.released}/{n} in {run.release_seconds} s "
                        f"(floor {run.floor_seconds} s), lost {run.lost}, throttled {run.throttled}",
                        file=out,
                        flush=True,
                    )
        _add_baseline_ratios(results.runs)
        if config.measure_cold_start:
            if out is not None:
                print("  cold start and peak memory ...", file=out, flush=True)
            controls.reset()
            env = sandbox.env()
            results.cold_start = cold_start(config.cold_start_repetitions, env)
            results.cold_start.update(peak_memory(sandbox, env))
    return results


def _add_baseline_ratios(runs: list[RunResult]) -> None:
    by_key = {(r.candidate, r.instances): r for r in runs}
    for run in runs:
        ours, theirs = by_key.get((ASG_NAMER, run.instances)), by_key.get((BASELINE, run.instances))
        if ours and theirs and ours.release_seconds and theirs.release_seconds:
            run.baseline_over_asg_namer = round(theirs.release_seconds / ours.release_seconds, 3)
