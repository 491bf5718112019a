"""The benchmark's targets, judged PASS, MISS or N/A from the results (reported, never asserted)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.config import ASG_NAMER, BASELINE
from bench.results import BenchResults


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
