"""The benchmark's runner on tiny bursts: the invariants of its results and timelines, never their timings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench.config import ASG_NAMER, BASELINE, SLOT_CANDIDATE, BenchConfig
from bench.floor import floor_releases, floor_seconds
from bench.footprint import cold_path, cold_start, peak_memory
from bench.report import print_report, read_json, write_chart, write_json
from bench.results import BenchResults, RunResult
from bench.runner import problems_logged, run_one
from sandbox import Sandbox
from sandbox.faults import AUTOSCALING, DEFAULT_BUCKETS, EC2_CREATE_TAGS, BucketSpec
from scenarios import TEAM_TAGS

TINY = BenchConfig(sizes=(5,), latency_ms=0, rate_scale=1, run_timeout=60, measure_cold_start=False)
IN_PROCESS = "asg-namer, environments in the benchmark's process"
GENEROUS = (200.0, 20.0)


@pytest.fixture(scope="module")
def runs(sandbox: Sandbox) -> dict[str, RunResult]:
    """GIVEN the sandbox with throttling on WHEN five instances scale out for each candidate (a generous
    Auto Scaling bucket, seed 3), each execution environment a process, and five into one {slot} pool; and
    five for asg-namer with its environments in this process (``--in-process``)."""
    sandbox.controls.reset()
    try:
        runs = {
            candidate: run_one(sandbox, candidate, 5, TINY, seed=3, autoscaling_bucket=GENEROUS)
            for candidate in (ASG_NAMER, BASELINE, SLOT_CANDIDATE)
        }
        in_process = dataclasses.replace(TINY, process_environments=False)
        runs[IN_PROCESS] = run_one(sandbox, ASG_NAMER, 5, in_process, seed=3, autoscaling_bucket=GENEROUS)
        return runs
    finally:
        sandbox.controls.reset()


@pytest.mark.parametrize("candidate", [ASG_NAMER, BASELINE, SLOT_CANDIDATE, IN_PROCESS])
def test_every_instance_is_released_named_and_nothing_is_lost(runs: dict[str, RunResult], candidate: str) -> None:
    run = runs[candidate]
    # THEN every launched instance left Pending:Wait for InService, named, within the timeout
    assert run.timed_out is False
    assert (run.released, run.in_service, run.unnamed, run.duplicate_names) == (5, 5, 0, 0)
    assert (run.lost, run.abandoned, run.dlq) == (0, 0, 0)
    assert run.release_seconds is not None and run.release_seconds > 0
    assert run.p50_seconds is not None and run.p99_seconds is not None
    assert run.p50_seconds <= run.p99_seconds <= run.release_seconds + 0.01
    assert run.invocations >= 1
    # AND the run says which seed and which Auto Scaling bucket it had, and left nothing running
    assert (run.seed, run.autoscaling_bucket, run.stragglers) == (3, "200+20/s", 0)


@pytest.mark.parametrize("candidate", [ASG_NAMER, BASELINE, SLOT_CANDIDATE, IN_PROCESS])
def test_every_instance_has_a_complete_timeline_in_path_order(runs: dict[str, RunResult], candidate: str) -> None:
    run = runs[candidate]
    timelines = run.timelines
    # THEN each instance was received, described, tagged and completed, in that order, after its launch
    assert len(timelines) == 5
    for t in timelines:
        assert t["launched"] <= t["received"] <= t["described"] <= t["tagged"] <= t["completed"], t
        assert t["completion_attempts"] >= 1
        assert t["result"] == "InService"
    # AND the release curve has one point per instance, ending at the release time
    assert len(run.release_curve) == 5
    assert run.release_curve[-1] == pytest.approx(run.release_seconds, abs=0.01)
    # AND the median instance's phases add up to its wait
    median = run.where_time_goes["median_instance"]
    phases = median["phases"]
    total = sum(phases[k] for k in ("queue", "cold start", "describe", "name", "complete"))
    assert total == pytest.approx(median["latency"], abs=0.01)
    # AND the emulator's own effort was measured, and how long each kind of call took
    assert run.sandbox_overhead_ms >= 0 and run.process_cpu_share > 0
    assert run.call_ms_by_action["CreateTags"] > 0 and run.call_ms_by_action["CompleteLifecycleAction"] > 0


def test_asg_namer_makes_one_create_tags_and_one_completion_per_instance(runs: dict[str, RunResult]) -> None:
    calls = runs[ASG_NAMER].calls_per_instance
    # THEN CreateTags and CompleteLifecycleAction about once each, a batched DescribeInstances, no DeleteTags
    assert calls["CreateTags"] == pytest.approx(1, abs=0.2)
    assert calls["CompleteLifecycleAction"] == pytest.approx(1, abs=0.2)
    assert 0 < calls["DescribeInstances"] < 1
    assert "DeleteTags" not in calls
    assert "SetDesiredCapacity" not in calls  # the runner's own call is not counted
    assert runs[ASG_NAMER].calls_by_service["dynamodb"] == 0  # no {slot}: no table touched


def test_baseline_makes_the_naive_calls_per_record(runs: dict[str, RunResult]) -> None:
    calls = runs[BASELINE].calls_per_instance
    # THEN one DescribeInstances, DeleteTags, CreateTags and completion per instance
    for action in ("DescribeInstances", "DeleteTags", "CreateTags", "CompleteLifecycleAction"):
        assert calls[action] >= 1, action
    assert calls["total"] >= 4


def test_the_slot_scenario_numbers_the_pool_and_counts_dynamodb_apart(
    runs: dict[str, RunResult], sandbox: Sandbox
) -> None:
    run = runs[SLOT_CANDIDATE]
    # THEN the five instances carry one pool's numbers 1..5 (the team's App and Env tags, then the slot)
    ids = [t["instance_id"] for t in run.timelines]
    reservations = sandbox.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    names = {tag["Value"] for r in reservations for i in r["Instances"] for tag in i["Tags"] if tag["Key"] == "Name"}
    assert names == {f"{TEAM_TAGS['App']}-{TEAM_TAGS['Env']}-{slot}" for slot in range(1, 6)}
    # AND DynamoDB calls are reported by service and action, apart from the EC2 and Auto Scaling ones
    assert run.calls_by_service["dynamodb"] > 0
    assert run.dynamodb_calls_per_instance["TransactWriteItems"] > 0  # a batch claims its numbers in blocks
    assert "TransactWriteItems" not in run.calls_per_instance


def test_results_are_written_printed_and_charted(runs: dict[str, RunResult], tmp_path: Path) -> None:
    # GIVEN results of every candidate, settings as the runner writes them, and a cold-start section
    settings = {
        "latency_ms": 0,
        "rate_scale": 1,
        "batch_size": 10,
        "batching_window_seconds": 1,
        "maximum_concurrency": 10,
        "function_timeout": 60,
        "seeds": [3],
        "buckets": {
            name: {"burst": s.burst, "refill_per_second": s.refill_per_second} for name, s in DEFAULT_BUCKETS.items()
        },
        "autoscaling_buckets": [list(GENEROUS)],
        "autoscaling_buckets_run": ["200+20/s"],
        "emulator": "a fresh account per run",
    }
    results = BenchResults(settings=settings, runs=[run for key, run in runs.items() if key != IN_PROCESS])
    results.cold_start = {"init_seconds": 0.3, "import_boto3_seconds": 0.2, "init_over_boto3": 1.5, "peak_rss_mb": 90}
    # WHEN written as JSON, printed and charted
    path = tmp_path / "bench.json"
    write_json(results, path)
    data = json.loads(path.read_text())
    printed = tmp_path / "report.txt"
    with printed.open("w") as out:
        print_report(BenchResults(settings=settings, runs=list(runs.values())), out)
    write_chart(results, tmp_path / "bench.png")
    # THEN the runs carry the keys the issues name, with their per-instance timelines
    assert {"runs", "cold_start", "cold_path", "sweep", "settings", "targets"} <= set(data)
    for run in data["runs"]:
        assert {
            "candidate",
            "instances",
            "seed",
            "autoscaling_bucket",
            "release_seconds",
            "floor_seconds",
            "calls_per_instance",
            "calls_by_service",
            "lost",
            "p50_seconds",
            "throttled",
            "records_retried",
            "where_time_goes",
            "release_curve",
            "timelines",
        } <= set(run)
        assert len(run["timelines"]) == 5
    assert {t["status"] for t in data["targets"]} <= {"PASS", "MISS", "N/A"}
    # AND the file reads back as the same results (what --report-from prints)
    assert read_json(path).runs == results.runs
    # AND the printout states the assumed bucket, and the PNG exists
    text = printed.read_text()
    assert "ASSUMED" in text and "200+20/s" in text and "Where the median instance's time goes" in text
    assert (tmp_path / "bench.png").stat().st_size > 0


def test_floor_is_the_slowest_bucket_of_the_path_divided_by_the_rate_scale() -> None:
    # GIVEN the documented CreateTags bucket (100 + 10/s) and the assumed Auto Scaling one (40 + 8/s)
    floors = floor_seconds(1000, ASG_NAMER, DEFAULT_BUCKETS, rate_scale=1)
    assert floors[EC2_CREATE_TAGS] == pytest.approx(90)
    assert floors[AUTOSCALING] == pytest.approx(120)
    assert floor_seconds(1000, ASG_NAMER, DEFAULT_BUCKETS, rate_scale=10)[EC2_CREATE_TAGS] == pytest.approx(9)
    assert floor_seconds(10, ASG_NAMER, DEFAULT_BUCKETS, rate_scale=1) == {EC2_CREATE_TAGS: 0, AUTOSCALING: 0}
    # AND with a generous Auto Scaling bucket CreateTags binds
    generous = {**DEFAULT_BUCKETS, AUTOSCALING: BucketSpec(*GENEROUS)}
    assert max(floor_seconds(1000, ASG_NAMER, generous, rate_scale=1).values()) == pytest.approx(90)


def test_floor_line_allows_the_bursts_then_the_slowest_refill() -> None:
    # THEN at once 40 (the Auto Scaling burst), after 10 s 40 + 80, never more than N
    assert floor_releases(0, 1000, DEFAULT_BUCKETS, rate_scale=1) == 40
    assert floor_releases(10, 1000, DEFAULT_BUCKETS, rate_scale=1) == 120
    assert floor_releases(1000, 1000, DEFAULT_BUCKETS, rate_scale=1) == 1000


def test_cold_start_cold_path_and_memory_probes_run_in_fresh_processes(sandbox: Sandbox) -> None:
    # WHEN the probes run once
    cold = cold_start(1, sandbox.env())
    path = cold_path(sandbox, sandbox.env(), repetitions=1)
    memory = peak_memory(sandbox, sandbox.env(), records=10)
    # THEN both import times are measured, and the handler named the whole 10-record batch
    assert cold["init_seconds"] > 0 and cold["import_boto3_seconds"] > 0
    assert cold["init_over_boto3"] == pytest.approx(cold["init_seconds"] / cold["import_boto3_seconds"], rel=0.01)
    assert memory["batch_records"] == 10
    assert memory["batch_failures"] == 0
    assert memory["peak_rss_mb"] > 0
    # AND the cold path ran both programs to the end: the handler's record succeeded, the script made its
    # three calls, and the handler's calls are listed
    assert path["handler_failures"] == 0
    assert path["plain_calls"] == ["DescribeInstances", "CreateTags", "CompleteLifecycleAction"]
    assert {"DescribeInstances", "CreateTags", "CompleteLifecycleAction"} <= set(path["handler_calls"])
    assert path["handler_over_plain"] == pytest.approx(path["handler_seconds"] / path["plain_seconds"], rel=0.01)


def test_the_functions_warnings_and_errors_are_counted_by_message_and_reason() -> None:
    # GIVEN log lines shaped like the handler's (Powertools JSON) and the baseline's
    lines = [
        {"level": "INFO", "message": "instance named", "instance_id": "i-1"},
        {"level": "ERROR", "message": "cannot name instance; completing with the failure result", "reason": "x" * 300},
        {"level": "ERROR", "message": "cannot name instance; completing with the failure result", "reason": "x" * 300},
        {"level": "WARNING", "message": "record will be retried through SQS", "reason": "Throttling"},
        {"level": "ERROR", "message": "record failed", "error": "An error occurred (Throttling)"},
    ]
    # THEN only warnings and errors count, each with its reason or error cut to 100 characters, most frequent first
    assert problems_logged(lines) == {
        "ERROR cannot name instance; completing with the failure result: " + "x" * 100: 2,
        "WARNING record will be retried through SQS: Throttling": 1,
        "ERROR record failed: An error occurred (Throttling)": 1,
    }
