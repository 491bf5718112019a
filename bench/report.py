"""The benchmark's output: the tables and targets it prints, the JSON and the PNG chart it writes."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from bench.config import bucket_label
from bench.floor import floor_releases
from bench.results import BenchResults, RunResult
from bench.targets import evaluate_targets
from bench.timeline import PHASES, full_bucket_seconds, release_pace
from sandbox.throttling import AUTOSCALING, EC2_CREATE_TAGS, BucketSpec


def results_json(results: BenchResults) -> dict[str, Any]:
    """The JSON document of docs/benchmarks.md: settings, runs (with per-instance timelines), sweep, probes, targets."""
    return {
        "settings": results.settings,
        "runs": [asdict(run) for run in results.runs],
        "sweep": results.sweep,
        "cold_path": results.cold_path,
        "cold_start": results.cold_start,
        "targets": [asdict(t) for t in evaluate_targets(results)],
    }


def print_report(results: BenchResults, out: TextIO) -> None:
    _print_settings(results.settings, out)
    for bucket in dict.fromkeys(r.autoscaling_bucket for r in results.runs):
        _print_runs(bucket, [r for r in results.runs if r.autoscaling_bucket == bucket], out)
    if results.runs:
        _print_calls(results.runs, out)
        _print_time_split(results.runs, _specs_by_label(results.settings), float(results.settings["rate_scale"]), out)
    if results.sweep:
        _print_sweep(results.sweep, out)
    _print_footprint(results, out)
    print("\nTargets (reported, never asserted):", file=out)
    for target in evaluate_targets(results):
        print(f"  {target.status:<4} {target.name}: {target.measured}", file=out)


def _print_settings(s: dict[str, Any], out: TextIO) -> None:
    print(
        f"\nasg-namer bench: latency {s['latency_ms']:g} ms/call, throttle refills x{s['rate_scale']:g} "
        f"(floors below are divided by it), batch {s['batch_size']}, window {s['batching_window_seconds']:g} s, "
        f"max concurrency {s['maximum_concurrency']}, function timeout {s['function_timeout']:g} s, "
        f"seeds {', '.join(map(str, s['seeds']))} (each seeds the sandbox's draws and the SDK's retry jitter; "
        "thread timing is not seeded)",
        file=out,
    )
    buckets = s["buckets"]
    documented = ", ".join(
        f"{name} {spec['burst']:g}+{spec['refill_per_second']:g}/s"
        for name, spec in buckets.items()
        if name != AUTOSCALING
    )
    print(f"EC2 buckets (documented by AWS): {documented}", file=out)
    print(
        f"Auto Scaling bucket (ASSUMED: AWS does not publish it): {', '.join(s['autoscaling_buckets_run'])}; "
        "the same for both candidates",
        file=out,
    )
    print(f"Emulator: {s['emulator']}", file=out)
    if "code" in s:
        print(f"Code measured: {s['code']}", file=out)


def _print_runs(bucket: str, runs: list[RunResult], out: TextIO) -> None:
    print(f"\nAuto Scaling bucket {bucket}:", file=out)
    header = (
        f"{'candidate':<16} {'N':>5} {'seed':>4} {'release s':>9} {'floor s':>8} {'x floor':>7} {'p50 s':>7} "
        f"{'p99 s':>7} {'calls/i':>7} {'thrott':>6} {'retried':>7} {'lost':>4} {'aband':>5} {'dlq':>3} "
        f"{'srv ms':>6} {'cpu':>4} {'base/ours':>9}"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in runs:
        print(
            f"{r.candidate:<16} {r.instances:>5} {r.seed:>4} {_fmt(r.release_seconds):>9} {r.floor_seconds:>8.2f} "
            f"{_fmt(r.ratio_to_floor):>7} {_fmt(r.p50_seconds):>7} {_fmt(r.p99_seconds):>7} "
            f"{r.calls_per_instance['total']:>7.2f} {r.throttled:>6} {r.records_retried:>7} {r.lost:>4} "
            f"{r.abandoned:>5} {r.dlq:>3} {r.sandbox_overhead_ms:>6.0f} {r.process_cpu_share:>4.2f} "
            f"{_fmt(r.baseline_over_asg_namer):>9}"
            + ("  (timed out)" if r.timed_out else "")
            + (f"  ({r.stragglers} invocations still running after it)" if r.stragglers else ""),
            file=out,
        )


def _print_calls(runs: list[RunResult], out: TextIO) -> None:
    print("\nAPI calls per instance by action (accepted; attempts incl. throttled in brackets); by service:", file=out)
    for r in runs:
        parts = ", ".join(
            f"{action} {value:g} [{r.attempts_per_instance.get(action, 0):g}]"
            for action, value in r.calls_per_instance.items()
            if action != "total"
        )
        services = ", ".join(f"{service} {value:g}" for service, value in r.calls_by_service.items() if value)
        dynamodb = ", ".join(f"{a} {v:g}" for a, v in r.dynamodb_calls_per_instance.items() if a != "total")
        print(
            f"  {_run_name(r)}: {parts}; by service {services}" + (f" (dynamodb: {dynamodb})" if dynamodb else ""),
            file=out,
        )
        if r.duplicate_names or r.unnamed:
            print(f"    {r.duplicate_names} instances share a Name, {r.unnamed} released unnamed", file=out)
        if r.call_ms_by_action:
            print("    ms per call: " + ", ".join(f"{a} {ms:g}" for a, ms in r.call_ms_by_action.items()), file=out)
        for problem, count in list(r.problems_logged.items())[:5]:
            print(f"    logged {count}x {problem}", file=out)


def _print_time_split(
    runs: list[RunResult], specs: dict[str, dict[str, BucketSpec]], rate_scale: float, out: TextIO
) -> None:
    print(
        "\nWhere the median instance's time goes (s; launch -> the invocation that first carried it began ->"
        " its cold start -> DescribeInstances answered -> CreateTags answered -> released); the median of each"
        " phase over all instances and each phase's share of all instance-seconds waited in brackets:",
        file=out,
    )
    for r in runs:
        split = r.where_time_goes
        if "median_instance" not in split:
            print(f"  {_run_name(r)}: no instance with a complete timeline", file=out)
            continue
        median, pace = split["median_instance"], release_pace(r.release_curve)
        phases = " + ".join(
            f"{phase} {median['phases'][phase]:g} [{split['phase_medians'][phase]:g}, "
            f"{split['phase_shares'][phase]:.0%}]"
            for phase in PHASES
        )
        print(
            f"  {_run_name(r)}: {median['latency']:g} s = {phases}; of which backoff after throttles "
            f"{median['phases']['backoff']:g} [{split['phase_medians']['backoff']:g}, "
            f"{split['phase_shares']['backoff']:.0%}]; completion attempts {median['completion_attempts']} "
            f"[mean {split['mean_completion_attempts']:g}], throttled {median['throttled']}; "
            f"launch order kept (rank correlation) {_fmt(split['launch_order_kept'])}; first release at "
            f"{_fmt(pace['first_release'])} s, then {_fmt(pace['steady_rate'])} per s (10th to 90th percent); "
            f"{_idle(r, specs[r.autoscaling_bucket], rate_scale)}",
            file=out,
        )


def _idle(run: RunResult, specs: dict[str, BucketSpec], rate_scale: float) -> str:
    """How long each bucket of the path sat full (refill wasted) before the last release, from the timelines:
    completions draw from Auto Scaling's, first CreateTags from CreateTags' (other calls are left out)."""
    parts = []
    for label, bucket, point in (("Auto Scaling", AUTOSCALING, "completed"), ("CreateTags", EC2_CREATE_TAGS, "tagged")):
        spec = specs[bucket]
        times = [t[point] for t in run.timelines if t[point] is not None]
        seconds = full_bucket_seconds(times, spec.burst, spec.refill_per_second * rate_scale)
        parts.append(f"{label} {seconds:.1f} s")
    return "buckets full (refill wasted): " + ", ".join(parts)


def _print_sweep(sweep: dict[str, Any], out: TextIO) -> None:
    print(
        f"\nSweep: {sweep['instances']} instances in {sweep['groups']} groups, {sweep['unnamed']} unnamed, own Region "
        f"{sweep['region']}, Auto Scaling {sweep['autoscaling_bucket']}, "
        f"function timeout {sweep['function_timeout']:g} s;"
        f" building the fleet took {sweep['setup_seconds']:g} s (not measured)",
        file=out,
    )
    for label, run in (
        ("first sweep (fresh environment)", sweep["first"]),
        ("next sweep (same environment)", sweep["second"]),
    ):
        summary = run["summary"]
        print(
            f"  {label}: {run['seconds']:g} s"
            + (f" after a {run['init_seconds']:g} s cold start" if "init_seconds" in run else "")
            + f"; in calls {run['in_calls_seconds']:g} s ("
            + ", ".join(f"{kind} {seconds:g}" for kind, seconds in run["in_calls_seconds_by_action"].items())
            + f"; the sandbox's own work beyond latency"
            f" {run['sandbox_beyond_latency_seconds']:g} s), outside calls {run['outside_calls_seconds']:g} s"
            f" (backoff after throttles {run['backoff_seconds']:g} s); named {summary['named']}, released"
            f" {summary['released']}, drift {summary['drift']}, waiting {summary['waiting']},"
            f" errors {summary['errors']},"
            f" stopped early {'yes' if summary['stopped_early'] else 'no'}",
            file=out,
        )
        for row in run["budget"]:
            print(
                f"    {row['calls']:<58} {row['used']:>5} / {row['limit']:<5} {row['rule']:<55} "
                f"{'ok' if row['ok'] else 'OVER'}",
                file=out,
            )
        if run["throttled"]:
            print("    throttled: " + ", ".join(f"{k} {v}" for k, v in run["throttled"].items()), file=out)


def _print_footprint(results: BenchResults, out: TextIO) -> None:
    path = results.cold_path
    if path:
        print(
            f"\nCold path (median of {path['repetitions']} fresh processes each, "
            f"latency {path['latency_ms']:g} ms/call):"
            f" handler.app import+init and a one-record batch {path['handler_seconds']} s (import+init"
            f" {path['handler_import_seconds']} s, batch {path['handler_batch_seconds']} s;"
            f" {len(path['handler_calls'])} calls: {', '.join(path['handler_calls'])}) against a plain boto3 script"
            f" {path['plain_seconds']} s ({len(path['plain_calls'])} calls: {', '.join(path['plain_calls'])}):"
            f" {path['handler_over_plain']}x; failed records {path['handler_failures']}.",
            file=out,
        )
    cold = results.cold_start
    if cold:
        print(
            f"Cold start (median of {cold['repetitions']} fresh processes, no latency): import+init handler.app "
            f"{cold['init_seconds']} s, import boto3 {cold['import_boto3_seconds']} s ({cold['init_over_boto3']}x)."
            f"\nPeak memory handling a {cold['batch_records']}-record batch: {cold['peak_rss_mb']} MB RSS "
            f"(batch's own allocations: tracemalloc peak {cold['batch_tracemalloc_peak_mb']} MB).",
            file=out,
        )


def _run_name(r: RunResult) -> str:
    return f"{r.candidate:<16} N={r.instances:<5} seed {r.seed} ({r.autoscaling_bucket})"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def read_json(path: Path) -> BenchResults:
    """An earlier run's results, as :func:`write_json` wrote them (a file of another version: UsageError)."""
    from cli.common import UsageError  # noqa: PLC0415 - the CLI's error, raised only for its --report-from

    try:
        data = json.loads(path.read_text())
        runs = [RunResult(**run) for run in data["runs"]]
        return BenchResults(data["settings"], runs, data["cold_start"], data["cold_path"], data["sweep"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"cannot read {path} as results of this version of asg-namer bench: {error}") from error


def write_json(results: BenchResults, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results_json(results), indent=1) + "\n")


def write_chart(results: BenchResults, path: Path) -> None:
    """Instances released over time, per candidate and seed, against the floor's line: one panel per
    (Auto Scaling bucket, N)."""
    import matplotlib  # noqa: PLC0415 - optional (the bench extra); imported only when a chart is wanted

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    panels = list(dict.fromkeys((r.autoscaling_bucket, r.instances) for r in results.runs))
    if not panels:
        return
    buckets = list(dict.fromkeys(bucket for bucket, _ in panels))
    sizes = sorted({n for _, n in panels})
    fig, axes = plt.subplots(len(buckets), len(sizes), figsize=(5.5 * len(sizes), 4.2 * len(buckets)), squeeze=False)
    colours = {name: f"C{i}" for i, name in enumerate(dict.fromkeys(r.candidate for r in results.runs))}
    styles = ["-", "--", ":", "-."]
    seeds = list(dict.fromkeys(r.seed for r in results.runs))
    specs = _specs_by_label(results.settings)
    rate_scale = float(results.settings["rate_scale"])
    for row, bucket in enumerate(buckets):
        for column, n in enumerate(sizes):
            ax = axes[row][column]
            runs = [r for r in results.runs if (r.autoscaling_bucket, r.instances) == (bucket, n)]
            if not runs:
                ax.set_visible(False)
                continue
            end = max([r.release_curve[-1] for r in runs if r.release_curve] + [1.0])
            steps = [end * i / 200 for i in range(201)]
            ax.plot(
                steps,
                [floor_releases(t, n, specs[bucket], rate_scale) for t in steps],
                color="black",
                linestyle="--",
                linewidth=1,
                label="token-bucket floor",
            )
            for r in runs:
                ax.step(
                    [0.0, *r.release_curve],
                    range(len(r.release_curve) + 1),
                    where="post",
                    color=colours[r.candidate],
                    linestyle=styles[seeds.index(r.seed) % len(styles)],
                    linewidth=1.2,
                    label=f"{r.candidate} seed {r.seed}",
                )
            ax.set_title(f"N={n}, Auto Scaling {bucket}, refills x{rate_scale:g}", fontsize=9)
            ax.set_xlabel("seconds since the burst launched")
            ax.set_ylabel("instances released")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _specs_by_label(settings: dict[str, Any]) -> dict[str, dict[str, BucketSpec]]:
    """The path's bucket numbers for each Auto Scaling bucket the runs had."""
    documented = {name: BucketSpec(**spec) for name, spec in settings["buckets"].items()}
    return {
        bucket_label((burst, refill)): {**documented, AUTOSCALING: BucketSpec(burst, refill)}
        for burst, refill in settings["autoscaling_buckets"]
    }
