"""The scale-out benchmark: asg-namer's handler and the naive baseline through the real path, in the sandbox.

For each Auto Scaling bucket, seed, burst size N and candidate: a fresh account (``bench.emulator``), a fresh
scenario world, an SQS trigger with the same settings for every candidate, ``SetDesiredCapacity(N)``, then wait
until every launched instance has left ``Pending:Wait`` (or a timeout). Everything is read from the sandbox's
own journals: lifecycle events (launch, InService, Terminated, on the sandbox clock), the HTTP call journal (API
calls by action, with their arrival and answer times and parameters) and the fault controls' counters
(throttling errors); per-instance timelines come from those (``bench.timeline``).

The {slot} scenario (issue 13) is the same run with a hook whose NotificationMetadata carries a ``{slot}``
template and ``SLOT_TABLE`` set; the sweep scenario (issue 12) is ``bench.sweep``'s; the cold-start, cold-path
and memory probes are ``bench.footprint``'s; what is PASS or MISS, ``bench.targets``'; the table, JSON and
chart, ``bench.report``'s.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from bench.config import ASG_NAMER, BASELINE, SLOT_CANDIDATE, BenchConfig, bucket_label
from bench.emulator import (
    LIFECYCLE_POLL_SECONDS,
    emulator_description,
    environment_preload,
    fresh_account,
    fresh_sdk_default_session,
)
from bench.floor import floor_seconds
from bench.footprint import cold_path, cold_start, peak_memory
from bench.results import BenchResults, RunResult
from bench.sweep import run_sweep
from bench.timeline import ReceiptLog, build_timelines, release_curve, where_time_goes
from handler.naming import NOTIFICATION_METADATA_TEMPLATE_KEY
from sandbox.event_source_mapping import REPORT_BATCH_ITEM_FAILURES, EventSourceMappingSettings
from sandbox.faults import AUTOSCALING, BucketSpec
from sandbox.invocation import Handler
from sandbox.lambda_context import FunctionSettings
from sandbox.lambda_process import ProcessEnvironments
from sandbox.lambda_runtime import FunctionLogs, capture_function_output, environment, environment_factory
from sandbox.lifecycle import LifecycleEvent
from sandbox.server import CallRecord, Sandbox
from sandbox.trigger import SqsTrigger, TriggerStats
from scenarios import World, build_world, clients, create_slot_table

CANDIDATE_MODULES = {ASG_NAMER: "handler.app", BASELINE: "bench.baseline", SLOT_CANDIDATE: "handler.app"}
# The handler's own AWS calls; SQS calls are the trigger's (Lambda's poller), reported apart.
HANDLER_SERVICES = ("ec2", "autoscaling")
SERVICES_BY_INSTANCE = ("ec2", "autoscaling", "dynamodb")
RUNNER_ACTIONS = frozenset({("autoscaling", "SetDesiredCapacity")})
# The {slot} scenario's template: one pool for the whole burst ("store-release-{slot}").
SLOT_TEMPLATE = "{tag:App}-{tag:Env}-{slot}"
PENDING_WAIT, IN_SERVICE, TERMINATED = "Pending:Wait", "InService", "Terminated"


# --------------------------------------------------------------------------------------------- one run


def _environments(
    module: str, config: BenchConfig, seed: int
) -> tuple[Callable[[], Handler], contextlib.AbstractContextManager[object]]:
    """The candidate's execution environments as the configuration asks, and what ends them with the run: a
    process each (the fork server started now, so no cold start waits for it), or the benchmark's own process."""
    if not config.process_environments:
        return environment_factory(module), contextlib.nullcontext()
    processes = ProcessEnvironments(module, preload=environment_preload(), seed=seed)
    processes.start_server()
    return processes, processes


def run_one(
    sandbox: Sandbox,
    candidate: str,
    n: int,
    config: BenchConfig,
    *,
    seed: int = 1,
    autoscaling_bucket: tuple[float, float] = (40.0, 8.0),
    out: TextIO | None = None,
) -> RunResult:
    """One scale-out of N instances handled by ``candidate``; the sandbox's latency is already set."""
    name = f"bench-{candidate.split(maxsplit=1)[0]}-{n}-{uuid.uuid4().hex[:6]}"
    controls = sandbox.controls
    controls.set_throttling(False)
    function_env, metadata = {}, None
    if candidate == SLOT_CANDIDATE:
        metadata = json.dumps({NOTIFICATION_METADATA_TEMPLATE_KEY: SLOT_TEMPLATE})
        function_env["SLOT_TABLE"] = create_slot_table(f"{name}-slots", sandbox.endpoint_url)
    world = build_world(
        name,
        endpoint_url=sandbox.endpoint_url,
        visibility_timeout=config.visibility_timeout,
        heartbeat_timeout=config.heartbeat_timeout,
        notification_metadata=metadata,
    )
    aws = clients(sandbox.endpoint_url)
    buckets = {AUTOSCALING: BucketSpec(*autoscaling_bucket)}
    specs = {**controls.bucket_specs(), **buckets}
    floors = floor_seconds(n, ASG_NAMER, specs, config.rate_scale)
    timeout = config.run_timeout_for(max(floors.values()))
    receipts = ReceiptLog(sandbox.clock, fresh_sdk_default_session)
    logs = FunctionLogs()
    make, environments = _environments(CANDIDATE_MODULES[candidate], config, seed)
    with environment(function_env), capture_function_output(logs), environments:
        trigger = SqsTrigger(
            world.queue_url,
            handler_factory=receipts.factory(make),
            function=FunctionSettings(f"bench-{candidate.split(maxsplit=1)[0]}", timeout=config.function_timeout),
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
            random.seed(seed)  # botocore's and tenacity's jitter draw from it; so do the sandbox's draws below
            controls.reseed(seed)
            controls.set_throttling(rate_scale=config.rate_scale, buckets=buckets)  # buckets restart full
            controls.reset_stats()
            journal_mark = len(sandbox.journal.records())
            started, cpu_started = time.monotonic(), time.process_time()
            aws["autoscaling"].set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=n)
            timed_out = not _wait_released(sandbox, world, n, started, timeout, out)
            ended_at = sandbox.clock.now()  # what happens later (a timed-out run's stragglers) is not the run's
            wall, cpu = time.monotonic() - started, time.process_time() - cpu_started
            calls = sandbox.journal.records()[journal_mark:]
            throttling = controls.stats()["throttled"]
            trigger.wait_until_idle(timeout=2 if timed_out else 15)
        finally:
            trigger.stop(timeout=5)
            controls.set_throttling(False)
            stragglers = _wait_until_quiet(trigger, limit=2 * config.function_timeout)
    events = [e for e in sandbox.lifecycle.events(asg=world.asg_name) if e.time <= ended_at]
    tokens = {
        str(sent.body["LifecycleActionToken"]): str(sent.instance_id)
        for sent in sandbox.lifecycle.notifications(asg=world.asg_name)
        if sent.kind == "launch" and sent.instance_id
    }
    timelines = build_timelines(events, calls, receipts.receipts(), tokens)
    result = _result(candidate, n, world, aws, events, calls, throttling, trigger.stats(), floors, timed_out, wall)
    result.seed, result.autoscaling_bucket = seed, bucket_label(autoscaling_bucket)
    result.stragglers = stragglers
    result.call_ms_by_action = _call_ms_by_action(calls)
    result.problems_logged = problems_logged(logs.json_lines())
    result.sandbox_overhead_ms = _sandbox_overhead_ms(calls, config.latency_ms)
    result.process_cpu_share = round(cpu / wall, 3) if wall > 0 else 0.0
    result.where_time_goes = where_time_goes(timelines)
    result.release_curve = [round(t, 3) for t in release_curve(timelines)]
    result.timelines = [asdict(t) for t in timelines]
    return result


def _wait_until_quiet(trigger: SqsTrigger, limit: float) -> int:
    """Waits (at most ``limit`` seconds) until none of the run's invocations is still running: a timed-out
    invocation's thread cannot be killed, and left running it would take the next run's CPU and sandbox lock
    and put its calls in the next run's counts. Returns how many were still running at the limit."""
    deadline = time.monotonic() + limit
    while True:
        stats = trigger.stats()
        running = stats.invocations_in_flight + stats.late_threads_running
        if running == 0 or time.monotonic() >= deadline:
            return running
        time.sleep(0.5)


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
    by_service: Counter[str] = Counter()
    dynamodb: Counter[str] = Counter()
    sqs = 0
    for call in calls:
        if call.service == "sqs":
            sqs += 1
        if (call.service, call.action) in RUNNER_ACTIONS or call.service not in SERVICES_BY_INSTANCE:
            continue
        if call.service == "dynamodb":  # every request: a claim lost to another (cancelled) is a call too
            dynamodb[call.action if call.status < 400 else f"{call.action} ({call.error_code})"] += 1
        if call.status < 400:
            by_service[call.service] += 1
        if call.service not in HANDLER_SERVICES:
            continue
        attempts[call.action] += 1
        if call.status < 400:
            accepted[call.action] += 1
    names = Counter(name for _, state, name in finished.values() if state == IN_SERVICE and name)
    dlq_attributes = aws["sqs"].get_queue_attributes(
        QueueUrl=world.dlq_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    floor = max(floors.values())
    return RunResult(
        candidate=candidate,
        instances=n,
        seed=0,
        autoscaling_bucket="",
        release_seconds=_round(release),
        floor_seconds=round(floor, 3),
        floor_by_bucket={k: round(v, 3) for k, v in floors.items()},
        ratio_to_floor=_round(release / floor) if release is not None and floor > 0 else None,
        p50_seconds=_round(_percentile(latencies, 50)),
        p99_seconds=_round(_percentile(latencies, 99)),
        calls_per_instance=_per_instance(accepted, n),
        attempts_per_instance=_per_instance(attempts, n),
        calls_by_service={service: round(by_service[service] / n, 3) for service in SERVICES_BY_INSTANCE},
        dynamodb_calls_per_instance=_per_instance(dynamodb, n),
        sqs_calls_per_instance=round(sqs / n, 3),
        throttled=int(throttling["total"]),
        throttled_by_action=dict(throttling["by_action"]),
        records_retried=stats.records_failed + stats.records_in_failed_batches,
        invocations=stats.invocations,
        released=len(finished),
        in_service=sum(1 for _, state, _ in finished.values() if state == IN_SERVICE),
        unnamed=sum(1 for _, state, name in finished.values() if state == IN_SERVICE and not name),
        duplicate_names=sum(count for count in names.values() if count > 1),
        lost=sum(1 for i in launched if i not in finished),
        abandoned=sum(1 for _, state, _ in finished.values() if state == TERMINATED),
        dlq=sum(int(v) for v in dlq_attributes.values()),
        timed_out=timed_out,
        wall_seconds=round(wall, 3),
        sandbox_overhead_ms=0.0,
        process_cpu_share=0.0,
        where_time_goes={},
        release_curve=[],
    )


def _call_ms_by_action(calls: Sequence[CallRecord]) -> dict[str, float]:
    """Mean milliseconds an accepted handler call took, arrival to answer (latency and the sandbox's work):
    where the emulator itself is slow shows here (moto's DynamoDB Query, for one)."""
    spans: dict[str, list[float]] = {}
    for call in calls:
        if (
            call.service in SERVICES_BY_INSTANCE
            and call.status < 400
            and (call.service, call.action) not in RUNNER_ACTIONS
        ):
            spans.setdefault(call.action, []).append((call.ended_at - call.started_at) * 1000)
    return {action: round(sum(v) / len(v), 1) for action, v in sorted(spans.items())}


def problems_logged(lines: Sequence[dict[str, Any]]) -> dict[str, int]:
    """The function's warnings and errors, counted by message (and reason or error, cut short): why records were
    retried, abandoned or slow, in the function's own words."""
    counts: Counter[str] = Counter()
    for line in lines:
        level = str(line.get("level", ""))
        if level not in ("WARNING", "ERROR"):
            continue
        detail = str(line.get("reason") or line.get("error") or "")[:100]
        counts[f"{level} {line.get('message', '')}" + (f": {detail}" if detail else "")] += 1
    return dict(counts.most_common())


def _sandbox_overhead_ms(calls: Sequence[CallRecord], latency_ms: float) -> float:
    """Mean time a handler call spent in the sandbox beyond the latency it injects (moto's lock and work)."""
    spans = [
        max(0.0, (call.ended_at - call.started_at) * 1000 - latency_ms)
        for call in calls
        if call.service in SERVICES_BY_INSTANCE and (call.service, call.action) not in RUNNER_ACTIONS
    ]
    return round(sum(spans) / len(spans), 1) if spans else 0.0


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


def run_benchmark(
    config: BenchConfig,
    out: TextIO | None = None,
    on_progress: Callable[[BenchResults], None] = lambda results: None,
) -> BenchResults:
    """Starts an in-process sandbox; for each Auto Scaling bucket and seed runs every (N, candidate) and the
    {slot} scenario; then the sweep, the cold-start, cold-path and memory probes. ``on_progress`` gets the
    results so far after each of them (a long run keeps what it measured)."""
    with Sandbox() as sandbox:
        os.environ.update(sandbox.env())
        controls = sandbox.controls
        controls.reset()
        controls.set_latency(base_ms=config.latency_ms)
        sandbox.lifecycle.poll_interval = LIFECYCLE_POLL_SECONDS
        results = BenchResults(_settings(config, sandbox))
        for bucket in config.autoscaling_buckets:
            for index, seed in enumerate(config.seeds):
                for n in config.sizes:
                    # the order of the candidates alternates with the seed, so drift of a shared machine hits both
                    order = config.candidates if index % 2 == 0 else tuple(reversed(config.candidates))
                    for candidate in order:
                        results.runs.append(_one(sandbox, candidate, n, config, seed, bucket, out))
                        _add_baseline_ratios(results.runs)
                        on_progress(results)
                for n in config.slot_sizes:
                    results.runs.append(_one(sandbox, SLOT_CANDIDATE, n, config, seed, bucket, out))
                    on_progress(results)
        if config.sweep is not None:
            fresh_account(sandbox)
            results.sweep = run_sweep(sandbox, config, out)
            on_progress(results)
        if config.measure_cold_start:
            if out is not None:
                print("  cold start, cold path and peak memory ...", file=out, flush=True)
            fresh_account(sandbox)
            env = sandbox.env()
            results.cold_path = cold_path(sandbox, env, config.cold_start_repetitions)
            controls.reset()  # the import and memory probes run without latency, as before
            results.cold_start = cold_start(config.cold_start_repetitions, env)
            results.cold_start.update(peak_memory(sandbox, env))
    return results


def _one(
    sandbox: Sandbox,
    candidate: str,
    n: int,
    config: BenchConfig,
    seed: int,
    bucket: tuple[float, float],
    out: TextIO | None,
) -> RunResult:
    if out is not None:
        print(f"  {candidate} N={n} seed {seed} autoscaling {bucket_label(bucket)} ...", file=out, flush=True)
    fresh_account(sandbox)
    run = run_one(sandbox, candidate, n, config, seed=seed, autoscaling_bucket=bucket, out=out)
    if out is not None:
        print(
            f"  {candidate} N={n}: released {run.released}/{n} in {run.release_seconds} s "
            f"(floor {run.floor_seconds} s), lost {run.lost}, throttled {run.throttled}",
            file=out,
            flush=True,
        )
    return run


def _settings(config: BenchConfig, sandbox: Sandbox) -> dict[str, Any]:
    """Every assumption of the run, printed and written to the JSON."""
    specs = sandbox.controls.bucket_specs()
    return {
        **{k: _plain(v) for k, v in asdict(config).items()},
        "clock_scale": sandbox.clock.scale,
        "buckets": {k: asdict(v) for k, v in specs.items()},
        "autoscaling_buckets_run": [bucket_label(b) for b in config.autoscaling_buckets],
        "emulator": emulator_description(config.process_environments),
        "code": _code_version(),
        "note": "bucket refills are multiplied by rate_scale; floor_seconds is already divided by it",
    }


def _code_version() -> str:
    """The commit measured (and whether the checkout had changes), so a result names the handler it timed."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "handler", "bench", "sandbox"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit}{' with uncommitted changes' if changed else ''}"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _add_baseline_ratios(runs: list[RunResult]) -> None:
    by_key = {(r.candidate, r.key): r for r in runs}
    for run in runs:
        ours, theirs = by_key.get((ASG_NAMER, run.key)), by_key.get((BASELINE, run.key))
        if (
            run.candidate in (ASG_NAMER, BASELINE)
            and ours
            and theirs
            and ours.release_seconds
            and theirs.release_seconds
        ):
            run.baseline_over_asg_namer = round(theirs.release_seconds / ours.release_seconds, 3)
