"""The scale-out benchmark: asg-namer's handler and the naive baseline through the real path, in the sandbox.

For each burst size N and each candidate: a fresh scenario world, an SQS trigger with the same settings
for every candidate, ``SetDesiredCapacity(N)``, then wait until every launched instance has left
``Pending:Wait`` (or a timeout). Everything is read from the sandbox's own journals: lifecycle events
(launch, InService, Terminated, on the sandbox clock), the HTTP call journal (API calls by action) and
the fault controls' counters (throttling errors). See docs/benchmarks.md.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bench.config import ASG_NAMER, BASELINE, BenchConfig
from sandbox import Sandbox
from sandbox.faults import AUTOSCALING, EC2_CREATE_TAGS, EC2_DELETE_TAGS, EC2_NON_MUTATING, BucketSpec
from sandbox.lambda_runtime import FunctionLogs, capture_function_output, environment_factory
from sandbox.scenario import World, build_world, clients
from sandbox.trigger import REPORT_BATCH_ITEM_FAILURES, SqsTrigger

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


@dataclass
class RunResult:
    candidate: str
    instances: int
    release_seconds: float | None  # first launch -> last completion; None when nothing completed
    floor_seconds: float  # max over the asg-namer path's buckets (the problem's floor, same for both)
    floor_by_bucket: dict[str, float]
    ratio_to_floor: float | None
    p50_seconds: float | None
    p99_seconds: float | None
    calls_per_instance: dict[str, float]  # accepted handler calls (ec2 + autoscaling) by action, and "total"
    attempts_per_instance: dict[str, float]  # the same with rejected (throttled) attempts included
    sqs_calls_per_instance: float
    throttled: int
    throttled_by_action: dict[str, int]
    records_retried: int
    invocations: int
    released: int
    in_service: int
    unnamed: int  # released InService without a Name tag
    lost: int  # still Pending:Wait at the end
    abandoned: int  # Terminated instead of released
    dlq: int
    timed_out: bool
    wall_seconds: float
    baseline_over_asg_namer: float | None = None


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
            batch_size=config.batch_size,
            maximum_batching_window_in_seconds=config.batching_window_seconds,
            maximum_concurrency=config.maximum_concurrency,
            function_response_types=[REPORT_BATCH_ITEM_FAILURES],
            function_timeout=config.function_timeout,
            endpoint_url=sandbox.endpoint_url,
            function_name=f"bench-{candidate}",
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
    events: Sequence[Any],
    calls: Sequence[Any],
    throttling: dict[str, Any],
    stats: Any,
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
            finished[event.instance_id] = (event.time, event.to_state, event.name_tag)
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


# --------------------------------------------------------------------------------------------- cold start

_IMPORT_TIMER = (
    "import time, json; t = time.perf_counter(); import {module}; "
    "print(json.dumps({{'seconds': time.perf_counter() - t}}))"
)


def _python_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(extra)
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env


def cold_start(repetitions: int, env: Mapping[str, str]) -> dict[str, Any]:
    """Fresh-process import and initialisation of handler.app against ``import boto3`` alone (medians)."""
    timings: dict[str, list[float]] = {"handler.app": [], "boto3": []}
    child_env = _python_env(env)
    for _ in range(repetitions):
        for module in ("boto3", "handler.app"):  # interleaved, so machine noise hits both alike
            completed = subprocess.run(
                [sys.executable, "-c", _IMPORT_TIMER.format(module=module)],
                env=child_env,
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            timings[module].append(json.loads(completed.stdout.strip().splitlines()[-1])["seconds"])
    init = statistics.median(timings["handler.app"])
    boto3_only = statistics.median(timings["boto3"])
    return {
        "repetitions": repetitions,
        "init_seconds": round(init, 4),
        "import_boto3_seconds": round(boto3_only, 4),
        "init_over_boto3": round(init / boto3_only, 3),
        "init_samples": [round(s, 4) for s in timings["handler.app"]],
        "boto3_samples": [round(s, 4) for s in timings["boto3"]],
    }


_MEMORY_PROBE = """
import json, resource, sys, tracemalloc
event = json.load(sys.stdin)
import time
import handler.app


class LambdaContext:  # the attributes Powertools reads; sandbox.trigger's would import moto into this process
    function_name = "asg-namer"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:asg-namer"
    memory_limit_in_mb = 128
    aws_request_id = "memory-probe"
    log_group_name = "/aws/lambda/asg-namer"
    log_stream_name = "memory-probe"
    _deadline = time.monotonic() + 60

    def get_remaining_time_in_millis(self):
        return int((self._deadline - time.monotonic()) * 1000)


tracemalloc.start()
response = handler.app.lambda_handler(event, LambdaContext())
current, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
# VmHWM: this process's own peak RSS. ru_maxrss would not do: Linux keeps it across fork + exec, so it
# starts at the benchmark's own (moto-sized) RSS.
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(json.dumps({
    "maxrss_kb": int(hwm[0]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "tracemalloc_peak_bytes": peak,
    "failures": len(response.get("batchItemFailures") or []),
}))
"""


def peak_memory(sandbox: Sandbox, env: Mapping[str, str], records: int = 10) -> dict[str, Any]:
    """A fresh process imports handler.app and handles one batch of ``records`` real hook messages
    against this sandbox; VmHWM is the process's peak RSS (what Lambda reports as Max Memory Used)."""
    world = build_world(f"bench-memory-{uuid.uuid4().hex[:6]}", endpoint_url=sandbox.endpoint_url)
    aws = clients(sandbox.endpoint_url)
    aws["autoscaling"].set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=records)
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(messages) < records and time.monotonic() < deadline:
        got = (
            aws["sqs"]
            .receive_message(
                QueueUrl=world.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=120
            )
            .get("Messages", [])
        )
        messages += [m for m in got if "EC2InstanceId" in m["Body"]]
    event = {"Records": [_sqs_record(m, world.queue_arn) for m in messages[:records]]}
    completed = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE],
        input=json.dumps(event),
        env=_python_env({**env, "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    probe = json.loads(completed.stdout.strip().splitlines()[-1])
    return {
        "batch_records": len(event["Records"]),
        "batch_failures": probe["failures"],
        "peak_rss_mb": round(probe["maxrss_kb"] / 1024, 1),
        "batch_tracemalloc_peak_mb": round(probe["tracemalloc_peak_bytes"] / 1024 / 1024, 2),
    }


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


# --------------------------------------------------------------------------------------------- the whole bench


@dataclass
class BenchResults:
    settings: dict[str, Any]
    runs: list[RunResult] = field(default_factory=list)
    cold_start: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "runs": [asdict(run) for run in self.runs],
            "cold_start": self.cold_start,
            "targets": [asdict(t) for t in evaluate_targets(self)],
        }


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


# --------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    name: str
    status: str  # PASS, MISS or N/A
    measured: str


def evaluate_targets(results: BenchResults) -> list[Target]:
    runs = {(r.candidate, r.instances): r for r in results.runs}
    targets = []
    big = runs.get((ASG_NAMER, 1000))
    if big is None or big.release_seconds is None:
        targets.append(Target("N=1000 released within 1.15x floor, nothing lost", "N/A", "no N=1000 run"))
    else:
        ok = big.ratio_to_floor is not None and big.ratio_to_floor <= 1.15 and big.lost == 0 and not big.timed_out
        targets.append(
            Target(
                "N=1000 released within 1.15x floor, nothing lost",
                _status(ok),
                f"{big.release_seconds} s / floor {big.floor_seconds} s = {big.ratio_to_floor}x, lost {big.lost}",
            )
        )
    ours, theirs = runs.get((ASG_NAMER, 100)), runs.get((BASELINE, 100))
    if ours is None or theirs is None:
        targets.append(Target(">= 5x faster than baseline at N=100", "N/A", "no N=100 run of both candidates"))
    else:
        ratio = ours.baseline_over_asg_namer
        ok = ratio is not None and ratio >= 5 and theirs.lost == 0
        targets.append(
            Target(
                ">= 5x faster than baseline at N=100",
                _status(ok),
                f"baseline {theirs.release_seconds} s / asg-namer {ours.release_seconds} s = {ratio}x",
            )
        )
    mine = [r for r in results.runs if r.candidate == ASG_NAMER]
    if mine:
        worst = max(mine, key=lambda r: r.calls_per_instance["total"])
        targets.append(
            Target(
                "<= 2.2 API calls per instance (accepted)",
                _status(worst.calls_per_instance["total"] <= 2.2),
                f"max {worst.calls_per_instance['total']} at N={worst.instances} "
                f"({worst.attempts_per_instance['total']} with throttled attempts)",
            )
        )
    cold = results.cold_start
    if cold:
        targets.append(
            Target(
                "init <= 1.5x import boto3",
                _status(cold["init_over_boto3"] <= 1.5),
                f"{cold['init_seconds']} s vs {cold['import_boto3_seconds']} s = {cold['init_over_boto3']}x",
            )
        )
        targets.append(
            Target(
                "peak memory < 128 MB (10-record batch)",
                _status(cold["peak_rss_mb"] < 128),
                f"{cold['peak_rss_mb']} MB RSS",
            )
        )
    return targets


def _status(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# --------------------------------------------------------------------------------------------- output


def print_report(results: BenchResults, out: TextIO) -> None:
    s = results.settings
    print(
        f"\nasg-namer bench: latency {s['latency_ms']:g} ms/call, throttle refills x{s['rate_scale']:g} "
        f"(floors below are divided by it), batch {s['batch_size']}, window {s['batching_window_seconds']:g} s, "
        f"max concurrency {s['maximum_concurrency']}, function timeout {s['function_timeout']:g} s",
        file=out,
    )
    header = (
        f"{'candidate':<10} {'N':>5} {'release s':>9} {'floor s':>8} {'x floor':>8} {'p50 s':>7} {'p99 s':>7} "
        f"{'calls/i':>7} {'throttled':>9} {'retried':>7} {'lost':>5} {'aband':>5} {'dlq':>4} {'base/ours':>9}"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in results.runs:
        print(
            f"{r.candidate:<10} {r.instances:>5} {_fmt(r.release_seconds):>9} {r.floor_seconds:>8.2f} "
            f"{_fmt(r.ratio_to_floor):>8} {_fmt(r.p50_seconds):>7} {_fmt(r.p99_seconds):>7} "
            f"{r.calls_per_instance['total']:>7.2f} {r.throttled:>9} {r.records_retried:>7} {r.lost:>5} "
            f"{r.abandoned:>5} {r.dlq:>4} {_fmt(r.baseline_over_asg_namer):>9}"
            + ("  (timed out)" if r.timed_out else ""),
            file=out,
        )
    print("\nAPI calls per instance by action (accepted; attempts incl. throttled in brackets):", file=out)
    for r in results.runs:
        parts = ", ".join(
            f"{action} {value:g} [{r.attempts_per_instance.get(action, 0):g}]"
            for action, value in r.calls_per_instance.items()
            if action != "total"
        )
        print(f"  {r.candidate:<10} N={r.instances:<5} {parts}", file=out)
    cold = results.cold_start
    if cold:
        print(
            f"\nCold start (median of {cold['repetitions']} fresh processes): import+init handler.app "
            f"{cold['init_seconds']} s, import boto3 {cold['import_boto3_seconds']} s ({cold['init_over_boto3']}x)."
            f"\nPeak memory handling a {cold['batch_records']}-record batch: {cold['peak_rss_mb']} MB RSS "
            f"(batch's own allocations: tracemalloc peak {cold['batch_tracemalloc_peak_mb']} MB).",
            file=out,
        )
    print("\nTargets:", file=out)
    for target in evaluate_targets(results):
        print(f"  {target.status:<4} {target.name}: {target.measured}", file=out)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def write_json(results: BenchResults, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results.to_json(), indent=2) + "\n")


def write_chart(results: BenchResults, path: Path) -> None:
    """Release time against N per candidate, with the token-bucket floor."""
    import matplotlib  # noqa: PLC0415 - optional (the bench extra); imported only when a chart is wanted

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for candidate in dict.fromkeys(r.candidate for r in results.runs):
        points = [(r.instances, r.release_seconds) for r in results.runs if r.candidate == candidate]
        points = [(n, s) for n, s in points if s is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=candidate)
    floors = sorted({(r.instances, r.floor_seconds) for r in results.runs if r.candidate == ASG_NAMER})
    if floors:
        ax.plot(*zip(*floors, strict=True), linestyle="--", color="grey", label="token-bucket floor")
    ax.set_xscale("log")
    ax.set_xlabel("instances in the burst (N)")
    ax.set_ylabel("first launch to last release (s)")
    ax.set_title(f"Scale-out release time (throttle refills x{results.settings['rate_scale']:g})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
