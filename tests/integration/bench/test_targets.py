"""PASS, MISS and N/A of issue 15's goals (and issues 12 and 13's), judged from results built by a factory."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bench.config import ASG_NAMER, BASELINE, SLOT_CANDIDATE
from bench.results import BenchResults, RunResult
from bench.targets import evaluate_targets

ASSUMED, GENEROUS = "40+8/s", "200+20/s"
FLOORS = {(ASSUMED, 100): 7.5, (ASSUMED, 1000): 120.0, (GENEROUS, 100): 0.0, (GENEROUS, 1000): 90.0}


def run(
    candidate: str, n: int, seed: int, release: float, p50: float, bucket: str = ASSUMED, **changes: Any
) -> RunResult:
    floor = FLOORS[(bucket, n)]
    result = RunResult(
        candidate=candidate,
        instances=n,
        seed=seed,
        autoscaling_bucket=bucket,
        release_seconds=release,
        floor_seconds=floor,
        floor_by_bucket={},
        ratio_to_floor=round(release / floor, 3) if floor else None,
        p50_seconds=p50,
        p99_seconds=release,
        calls_per_instance={"total": 2.1},
        attempts_per_instance={"total": 2.5},
        calls_by_service={"ec2": 1.1, "autoscaling": 1.0, "dynamodb": 0.0},
        dynamodb_calls_per_instance={"total": 0.0},
        sqs_calls_per_instance=1.0,
        throttled=0,
        throttled_by_action={},
        records_retried=0,
        invocations=n // 10,
        released=n,
        in_service=n,
        unnamed=0,
        duplicate_names=0,
        lost=0,
        abandoned=0,
        dlq=0,
        timed_out=False,
        wall_seconds=release,
        sandbox_overhead_ms=1.0,
        process_cpu_share=0.5,
        where_time_goes={},
        release_curve=[],
    )
    return replace(result, **changes)


def good_runs(bucket: str = ASSUMED, seeds: tuple[int, ...] = (1, 2, 3)) -> list[RunResult]:
    """Every goal met: asg-namer close to the floor and ahead of the baseline on release time and p50."""
    runs = []
    for seed in seeds:
        runs += [
            run(ASG_NAMER, 100, seed, 9.0, 4.0, bucket),
            run(BASELINE, 100, seed, 60.0, 4.5, bucket),
            run(ASG_NAMER, 1000, seed, 130.0 if bucket == ASSUMED else 95.0, 60.0, bucket),
            run(BASELINE, 1000, seed, 170.0, 65.0, bucket),
            run(SLOT_CANDIDATE, 1000, seed, 140.0 if bucket == ASSUMED else 100.0, 62.0, bucket),
        ]
    return runs


def statuses(runs: list[RunResult], rate_scale: float = 1.0, **sections: dict[str, Any]) -> dict[str, str]:
    results = BenchResults({"rate_scale": rate_scale}, runs)
    for name, value in sections.items():
        setattr(results, name, value)
    return {t.name: t.status for t in evaluate_targets(results)}


def test_every_goal_met_on_every_seed_passes_for_each_bucket() -> None:
    # GIVEN three seeds under the assumed and the generous bucket, every goal met
    judged = statuses(good_runs(ASSUMED) + good_runs(GENEROUS))
    # THEN each goal is judged once per bucket and passes, except N=100 against a floor of 0 s
    assert judged["[Auto Scaling 40+8/s] N=100: release time and p50 no worse than the baseline's"] == "PASS"
    assert judged["[Auto Scaling 40+8/s] N=1000 within 1.1x the floor"] == "PASS"
    assert judged["[Auto Scaling 40+8/s] N=100 within 1.3x the floor"] == "PASS"
    assert judged["[Auto Scaling 40+8/s] {slot} N=1000 into one pool within 1.2x the floor"] == "PASS"
    assert judged["[Auto Scaling 200+20/s] N=1000 within 1.1x the floor"] == "PASS"
    assert judged["[Auto Scaling 200+20/s] N=100 within 1.3x the floor"] == "N/A"
    assert {s for name, s in judged.items() if "N=100 within" not in name or "40+8" in name} == {"PASS"}


def test_one_seed_behind_the_baseline_on_p50_is_a_miss() -> None:
    # GIVEN seed 2's asg-namer median instance waited longer than the baseline's at N=1000
    runs = [
        replace(r, p50_seconds=70.0) if (r.candidate, r.instances, r.seed) == (ASG_NAMER, 1000, 2) else r
        for r in good_runs()
    ]
    # THEN that goal misses while the release-time goals still pass
    judged = statuses(runs)
    assert judged["[Auto Scaling 40+8/s] N=1000: release time and p50 no worse than the baseline's"] == "MISS"
    assert judged["[Auto Scaling 40+8/s] N=1000 within 1.1x the floor"] == "PASS"


@pytest.mark.parametrize(
    "loss", [{"lost": 1}, {"abandoned": 1}, {"unnamed": 2}, {"dlq": 1}, {"timed_out": True}], ids=str
)
def test_anything_lost_is_a_miss_of_nothing_lost(loss: dict[str, Any]) -> None:
    runs = [replace(r, **loss) if (r.candidate, r.instances, r.seed) == (ASG_NAMER, 100, 3) else r for r in good_runs()]
    judged = statuses(runs)
    lost = next(name for name in judged if name.startswith("[Auto Scaling 40+8/s] nothing lost"))
    assert judged[lost] == "MISS"
    # AND a run that lost something does not count as within the floor either
    assert judged["[Auto Scaling 40+8/s] N=100 within 1.3x the floor"] == "MISS"


def test_calls_per_instance_over_the_limit_is_a_miss() -> None:
    runs = [
        replace(r, calls_per_instance={"total": 2.3}) if (r.candidate, r.instances) == (ASG_NAMER, 100) else r
        for r in good_runs()
    ]
    assert statuses(runs)["[Auto Scaling 40+8/s] <= 2.2 accepted API calls per instance"] == "MISS"


def test_a_slot_pool_with_a_duplicate_name_misses_its_goal() -> None:
    runs = [replace(r, duplicate_names=2) if r.candidate == SLOT_CANDIDATE and r.seed == 1 else r for r in good_runs()]
    assert statuses(runs)["[Auto Scaling 40+8/s] {slot} N=1000 into one pool within 1.2x the floor"] == "MISS"


def test_goals_stated_at_aws_rates_are_not_judged_at_another_rate_scale() -> None:
    judged = statuses(good_runs(), rate_scale=5)
    assert judged["[Auto Scaling 40+8/s] N=1000 within 1.1x the floor"] == "N/A"
    assert judged["[Auto Scaling 40+8/s] N=100: release time and p50 no worse than the baseline's"] == "N/A"


def test_goals_without_their_runs_are_not_applicable() -> None:
    judged = statuses([run(ASG_NAMER, 100, 1, 9.0, 4.0)])
    assert judged["[Auto Scaling 40+8/s] N=1000 within 1.1x the floor"] == "N/A"
    assert judged["[Auto Scaling 40+8/s] N=100: release time and p50 no worse than the baseline's"] == "N/A"
    assert not any("{slot}" in name for name in judged)


def test_cold_path_and_sweep_budget_are_judged() -> None:
    # GIVEN a cold path 1.6x the plain script, and a sweep that named its 50 but spent one call too many
    cold_path = {
        "handler_over_plain": 1.6,
        "handler_seconds": 0.8,
        "plain_seconds": 0.5,
        "handler_calls": ["a"] * 5,
        "plain_calls": ["a"] * 3,
    }
    budget = [{"calls": "DescribeLifecycleHooks", "limit": 100, "used": 101, "ok": False}]
    sweep_run = {
        "seconds": 30.0,
        "budget": budget,
        "named_the_unnamed": 50,
        "named_others": 0,
        "summary": {"named": 50},
    }
    later = {"seconds": 20.0, "budget": [], "named_the_unnamed": 0, "summary": {"named": 0}}
    sweep = {"instances": 5000, "groups": 100, "unnamed": 50, "first": sweep_run, "second": later}
    judged = statuses(good_runs(), cold_path=cold_path, sweep=sweep)
    # THEN both miss, each naming its reason
    cold = next(name for name in judged if name.startswith("cold path"))
    swept = next(name for name in judged if name.startswith("sweep of 5000"))
    assert (judged[cold], judged[swept]) == ("MISS", "MISS")
    # AND within budget, the sweep passes
    sweep["first"] = {**sweep_run, "budget": [{**budget[0], "used": 100, "ok": True}]}
    assert statuses(good_runs(), sweep=sweep)[swept] == "PASS"
