"""The benchmark's output: the table and targets it prints, the JSON and the PNG chart it writes."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from bench.config import ASG_NAMER
from bench.results import BenchResults
from bench.targets import evaluate_targets


def results_json(results: BenchResults) -> dict[str, Any]:
    """The JSON document of docs/benchmarks.md: settings, runs, cold start and targets."""
    return {
        "settings": results.settings,
        "runs": [asdict(run) for run in results.runs],
        "cold_start": results.cold_start,
        "targets": [asdict(t) for t in evaluate_targets(results)],
    }


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
    path.write_text(json.dumps(results_json(results), indent=2) + "\n")


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
