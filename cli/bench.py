"""``asg-namer bench``: time to release a scale-out, against the token-bucket floor and a naive baseline.

Runs in an embedded sandbox (no AWS account touched): realistic per-call latency, EC2's documented
throttle buckets and an assumed Auto Scaling one (refills multiplied by --rate-scale so large bursts
finish in minutes), and for each Auto Scaling bucket, seed and burst size N both candidates through the
real path: hook message -> queue -> trigger -> handler -> CompleteLifecycleAction. Optionally a {slot}
scenario (--slot) and a scheduled sweep over a large fleet (--sweep). Prints tables, per-instance
time splits and PASS/MISS per target, writes JSON (with per-instance timelines) and a PNG chart.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, TextIO

from bench.config import (
    ASG_NAMER,
    ASSUMED_AUTOSCALING_BUCKET,
    BASELINE,
    GENEROUS_AUTOSCALING_BUCKET,
    QUICK,
    BenchConfig,
    SweepConfig,
    bucket_label,
)
from cli.common import UsageError

DEFAULT_OUT_DIR = Path("bench-results")
FULL = BenchConfig(
    sizes=(100, 1000),
    rate_scale=1.0,
    autoscaling_buckets=(ASSUMED_AUTOSCALING_BUCKET, GENEROUS_AUTOSCALING_BUCKET),
    slot_sizes=(200, 1000),
    sweep=SweepConfig(),
)
FULL_COMMAND = (
    "--sizes 100,1000 --rate-scale 1 --seeds 1,2,3 --autoscaling-bucket 40,8 --autoscaling-bucket 200,20 "
    "--slot 200,1000 --sweep 100x50"
)


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "bench",
        help=help_text,
        description=__doc__,
        epilog=(
            "examples: asg-namer bench --quick\n"
            "          asg-namer bench --sizes 10,100,1000 --rate-scale 1\n"
            "          asg-namer bench --full   (issues 12, 13 and 15: takes about an hour)\n"
            "          asg-namer bench --sizes 1000 --autoscaling-bucket 200,20 --seeds 1"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_options(parser)
    parser.set_defaults(run=lambda args: run(args, sys.stdout))


def _add_options(parser: argparse.ArgumentParser) -> None:
    default = BenchConfig()
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small bursts {','.join(map(str, QUICK.sizes))}, refills x{QUICK.rate_scale:g}: about a minute",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"the run docs/benchmarks.md reports: {FULL_COMMAND}",
    )
    parser.add_argument("--sizes", type=_sizes, help="comma-separated burst sizes (default 10,100,1000)")
    parser.add_argument("--seeds", type=_seeds, help="comma-separated seeds, one run each (default 1,2,3)")
    parser.add_argument(
        "--autoscaling-bucket",
        type=_bucket,
        action="append",
        metavar="BURST,REFILL",
        help=(
            "Auto Scaling's API bucket (AWS does not publish it); repeat to run each "
            f"(default {_bucket_text(ASSUMED_AUTOSCALING_BUCKET)}; e.g. {_bucket_text(GENEROUS_AUTOSCALING_BUCKET)})"
        ),
    )
    parser.add_argument(
        "--slot", type=_sizes, metavar="N[,N]", help="also run asg-namer with a {slot} template into one pool"
    )
    parser.add_argument(
        "--sweep",
        nargs="?",
        const=_fleet_text(SweepConfig()),
        type=_fleet,
        metavar="GROUPSxINSTANCES",
        help=f"also time one scheduled sweep over a fleet (default {_fleet_text(SweepConfig())}, 1%% unnamed)",
    )
    parser.add_argument(
        "--candidates", type=_candidates, help=f"comma-separated: {ASG_NAMER},{BASELINE} (default both)"
    )
    parser.add_argument(
        "--latency-ms", type=float, help=f"sandbox latency per API call (default {default.latency_ms:g})"
    )
    parser.add_argument(
        "--rate-scale",
        type=_positive,
        help=f"multiply every throttle bucket's refill rate (default {default.rate_scale:g}; 1 = AWS's numbers)",
    )
    parser.add_argument("--run-timeout", type=_positive, help="seconds to wait for one run (default: from the floor)")
    parser.add_argument("--no-cold-start", action="store_true", help="skip the cold-start and memory probes")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run every execution environment in the benchmark's own process, as runs before process "
        "environments did (default: a process each, as on Lambda)",
    )
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where bench.json and bench.png go")
    parser.add_argument("--json", type=Path, dest="json_path", help="JSON results path (default OUT_DIR/bench.json)")
    parser.add_argument("--chart", type=Path, help="PNG chart path (default OUT_DIR/bench.png)")
    parser.add_argument(
        "--report-from",
        type=Path,
        metavar="BENCH_JSON",
        help="run nothing: print the report of an earlier run's JSON (and draw its chart with --chart)",
    )


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    if args.quick and args.full:
        raise UsageError("--quick and --full are two presets: give one")
    config = QUICK if args.quick else FULL if args.full else BenchConfig()
    changes: dict[str, Any] = {}
    if args.sizes:
        changes["sizes"] = args.sizes
    if args.seeds:
        changes["seeds"] = args.seeds
    if args.autoscaling_bucket:
        changes["autoscaling_buckets"] = tuple(dict.fromkeys(args.autoscaling_bucket))
    if args.slot:
        changes["slot_sizes"] = args.slot
    if args.sweep:
        changes["sweep"] = args.sweep
    if args.candidates:
        changes["candidates"] = args.candidates
    if args.latency_ms is not None:
        if args.latency_ms < 0:
            raise UsageError("--latency-ms must be >= 0")
        changes["latency_ms"] = args.latency_ms
    if args.rate_scale is not None:
        changes["rate_scale"] = args.rate_scale
    if args.run_timeout is not None:
        changes["run_timeout"] = args.run_timeout
    if args.no_cold_start:
        changes["measure_cold_start"] = False
    if args.in_process:
        changes["process_environments"] = False
    return dataclasses.replace(config, **changes)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from bench.report import print_report, read_json, write_chart, write_json  # noqa: PLC0415 - matplotlib, when charted

    if args.report_from is not None:
        results = read_json(args.report_from)
        print_report(results, out)
        if args.chart is not None:
            write_chart(results, args.chart)
            print(f"\nWrote {args.chart}", file=out)
        return 0
    from bench.runner import run_benchmark  # noqa: PLC0415 - starts moto

    config = config_from_args(args)
    json_path = args.json_path or args.out_dir / "bench.json"
    chart_path = args.chart or args.out_dir / "bench.png"
    print(
        f"asg-namer bench: sizes {list(config.sizes)}, candidates {list(config.candidates)}, "
        f"seeds {list(config.seeds)}, Auto Scaling buckets {[bucket_label(b) for b in config.autoscaling_buckets]}, "
        f"slot {list(config.slot_sizes)}, sweep {_fleet_text(config.sweep) if config.sweep else 'no'}, "
        f"latency {config.latency_ms:g} ms, throttle refills x{config.rate_scale:g}",
        file=out,
        flush=True,
    )
    results = run_benchmark(config, out, on_progress=lambda partial: write_json(partial, json_path))
    print_report(results, out)
    write_json(results, json_path)
    try:
        write_chart(results, chart_path)
        print(f"\nWrote {json_path} and {chart_path}", file=out)
    except ImportError:
        print(f"\nWrote {json_path}; no chart: matplotlib is missing (pip install -e '.[bench]')", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.bench", description=__doc__)
    _add_options(parser)
    return run(parser.parse_args(argv), sys.stdout)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("must be comma-separated integers, e.g. 10,100,1000") from None
    if not sizes or any(not 1 <= n <= 1900 for n in sizes):
        raise argparse.ArgumentTypeError("each size must be 1..1900")
    return sizes


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError("must be comma-separated integers, e.g. 1,2,3") from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed, e.g. 1,2,3")
    return seeds


def _bucket(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        burst, refill = (float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError("must be BURST,REFILL (tokens, tokens per second), e.g. 200,20") from None
    if not (burst >= 1 and refill > 0):
        raise argparse.ArgumentTypeError("BURST must be >= 1 and REFILL > 0, e.g. 200,20")
    return burst, refill


def _bucket_text(bucket: tuple[float, float]) -> str:
    return f"{bucket[0]:g},{bucket[1]:g}"


def _fleet(text: str) -> SweepConfig:
    groups, _, per_group = text.lower().partition("x")
    try:
        fleet = SweepConfig(groups=int(groups), per_group=int(per_group))
    except ValueError:
        raise argparse.ArgumentTypeError("must be GROUPSxINSTANCES, e.g. 100x50") from None
    if not (1 <= fleet.groups <= 250 and 1 <= fleet.per_group <= 250):
        raise argparse.ArgumentTypeError("1..250 groups of 1..250 instances, e.g. 100x50")
    return fleet


def _fleet_text(fleet: SweepConfig) -> str:
    return f"{fleet.groups}x{fleet.per_group}"


def _candidates(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in (ASG_NAMER, BASELINE)]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"must be {ASG_NAMER} and/or {BASELINE}")
    return names


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


if __name__ == "__main__":
    raise SystemExit(main())
