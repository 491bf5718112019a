"""``asg-namer bench``: time to release a scale-out, against the token-bucket floor and a naive baseline.

Runs in an embedded sandbox (no AWS account touched): realistic per-call latency, EC2's documented
throttle buckets (refills multiplied by --rate-scale so large bursts finish in minutes), and for each
burst size N both candidates through the real path: hook message -> queue -> trigger -> handler ->
CompleteLifecycleAction. Prints a table and PASS/MISS per target, writes JSON and a PNG chart.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, TextIO

from bench.config import ASG_NAMER, BASELINE, QUICK, BenchConfig
from cli.common import UsageError

DEFAULT_OUT_DIR = Path("bench-results")


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "bench",
        help=help_text,
        description=__doc__,
        epilog="examples: asg-namer bench --quick\n          asg-namer bench --sizes 10,100,1000 --rate-scale 1",
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
    parser.add_argument("--sizes", type=_sizes, help="comma-separated burst sizes (default 10,100,1000)")
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
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where bench.json and bench.png go")
    parser.add_argument("--json", type=Path, dest="json_path", help="JSON results path (default OUT_DIR/bench.json)")
    parser.add_argument("--chart", type=Path, help="PNG chart path (default OUT_DIR/bench.png)")


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    config = QUICK if args.quick else BenchConfig()
    changes: dict[str, Any] = {}
    if args.sizes:
        changes["sizes"] = args.sizes
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
    return dataclasses.replace(config, **changes)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from bench.report import print_report, write_chart, write_json  # noqa: PLC0415 - matplotlib, when charted
    from bench.runner import run_benchmark  # noqa: PLC0415 - starts moto

    config = config_from_args(args)
    json_path = args.json_path or args.out_dir / "bench.json"
    chart_path = args.chart or args.out_dir / "bench.png"
    print(
        f"asg-namer bench: sizes {list(config.sizes)}, candidates {list(config.candidates)}, "
        f"latency {config.latency_ms:g} ms, throttle refills x{config.rate_scale:g}",
        file=out,
        flush=True,
    )
    results = run_benchmark(config, out)
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
