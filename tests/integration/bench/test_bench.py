"""The benchmark's runner on a tiny burst: the invariants of its results, never its timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.config import ASG_NAMER, BASELINE, BenchConfig
from bench.footprint import cold_start, peak_memory
from bench.report import write_json
from bench.results import BenchResults, RunResult
from bench.runner import floor_seconds, run_one
from bench.targets import evaluate_targets
from sandbox import Sandbox
from sandbox.faults import AUTOSCALING, DEFAULT_BUCKETS, EC2_CREATE_TAGS

TINY = BenchConfig(sizes=(5,), latency_ms=0, rate_scale=1, run_timeout=30, measure_cold_start=False)


@pytest.fixture(scope="module")
def runs(sandbox: Sandbox) -> dict[str, RunResult]:
    """GIVEN the sandbox with throttling on WHEN five instances scale out for each candidate."""
    sandbox.controls.reset()
    try:
        return {candidate: run_one(sandbox, candidate, 5, TINY) for candidate in (ASG_NAMER, BASELINE)}
    finally:
        sandbox.controls.reset()


@pytest.mark.parametrize("candidate", [ASG_NAMER, BASELINE])
def test_every_instance_is_released_named_and_nothing_is_lost(runs: dict[str, RunResult], candidate: str) -> None:
    run = runs[candidate]
    # THEN every launched instance left Pending:Wait for InService, named, within the timeout
    assert run.timed_out is False
    assert (run.released, run.in_service, run.unnamed) == (5, 5, 0)
    assert (run.lost, run.abandoned, run.dlq) == (0, 0, 0)
    assert run.release_seconds is not None and run.release_seconds > 0
    assert run.p50_seconds is not None and run.p99_seconds is not None
    assert run.p50_seconds <= run.p99_seconds <= run.release_seconds + 0.01
    assert run.invocations >= 1


def test_asg_namer_makes_one_create_tags_and_one_completion_per_instance(runs: dict[str, RunResult]) -> None:
    calls = runs[ASG_NAMER].calls_per_instance
    # THEN CreateTags and CompleteLifecycleAction about once each, a batched DescribeInstances, no DeleteTags
    assert calls["CreateTags"] == pytest.approx(1, abs=0.2)
    assert calls["CompleteLifecycleAction"] == pytest.approx(1, abs=0.2)
    assert 0 < calls["DescribeInstances"] < 1
    assert "DeleteTags" not in calls
    assert "SetDesiredCapacity" not in calls  # the runner's own call is not counted


def test_baseline_makes_the_naive_calls_per_record(runs: dict[str, RunResult]) -> None:
    calls = runs[BASELINE].calls_per_instance
    # THEN one DescribeInstances, DeleteTags, CreateTags and completion per instance
    for action in ("DescribeInstances", "DeleteTags", "CreateTags", "CompleteLifecycleAction"):
        assert calls[action] >= 1, action
    assert calls["total"] >= 4


def test_json_results_have_the_documented_schema(runs: dict[str, RunResult], tmp_path: Path) -> None:
    # GIVEN results of both candidates and a cold-start section
    results = BenchResults(settings={"rate_scale": 1}, runs=[runs[ASG_NAMER], runs[BASELINE]])
    results.cold_start = {"init_seconds": 0.3, "import_boto3_seconds": 0.2, "init_over_boto3": 1.5, "peak_rss_mb": 90}
    # WHEN written as JSON
    path = tmp_path / "bench.json"
    write_json(results, path)
    data = json.loads(path.read_text())
    # THEN the runs carry the keys the issue names, and the cold_start object is there
    assert {"runs", "cold_start", "settings", "targets"} <= set(data)
    for run in data["runs"]:
        assert {
            "candidate",
            "instances",
            "release_seconds",
            "floor_seconds",
            "calls_per_instance",
            "lost",
            "dlq",
            "p50_seconds",
            "p99_seconds",
            "throttled",
            "records_retried",
            "abandoned",
            "ratio_to_floor",
            "baseline_over_asg_namer",
        } <= set(run)
    assert {run["candidate"] for run in data["runs"]} == {ASG_NAMER, BASELINE}
    assert data["cold_start"]["init_seconds"] == 0.3
    assert {t["status"] for t in data["targets"]} <= {"PASS", "MISS", "N/A"}


def test_targets_without_the_big_runs_are_not_applicable(runs: dict[str, RunResult]) -> None:
    targets = {t.name: t.status for t in evaluate_targets(BenchResults({}, [runs[ASG_NAMER]]))}
    assert targets["N=1000 released within 1.15x floor, nothing lost"] == "N/A"
    assert targets[">= 5x faster than baseline at N=100"] == "N/A"
    assert targets["<= 2.2 API calls per instance (accepted)"] in ("PASS", "MISS")


def test_floor_is_the_slowest_bucket_of_the_path_divided_by_the_rate_scale() -> None:
    # GIVEN the documented CreateTags bucket (100 + 10/s) and the assumed Auto Scaling one (40 + 8/s)
    floors = floor_seconds(1000, ASG_NAMER, DEFAULT_BUCKETS, rate_scale=1)
    assert floors[EC2_CREATE_TAGS] == pytest.approx(90)
    assert floors[AUTOSCALING] == pytest.approx(120)
    assert floor_seconds(1000, ASG_NAMER, DEFAULT_BUCKETS, rate_scale=10)[EC2_CREATE_TAGS] == pytest.approx(9)
    assert floor_seconds(10, ASG_NAMER, DEFAULT_BUCKETS, rate_scale=1) == {EC2_CREATE_TAGS: 0, AUTOSCALING: 0}


def test_cold_start_and_memory_probes_run_in_fresh_processes(sandbox: Sandbox) -> None:
    # WHEN the probes run once
    cold = cold_start(1, sandbox.env())
    memory = peak_memory(sandbox, sandbox.env(), records=10)
    # THEN both import times are measured, and the handler named the whole 10-record batch
    assert cold["init_seconds"] > 0 and cold["import_boto3_seconds"] > 0
    assert cold["init_over_boto3"] == pytest.approx(cold["init_seconds"] / cold["import_boto3_seconds"], rel=0.01)
    assert memory["batch_records"] == 10
    assert memory["batch_failures"] == 0
    assert memory["peak_rss_mb"] > 0
