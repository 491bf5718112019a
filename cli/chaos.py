"""``asg-namer chaos``: the fault suite on the embedded local AWS (``make soak`` runs its long form).

Scales out Auto Scaling groups through the whole pipeline (hook -> SQS -> trigger -> handler) while
injecting faults, then checks that nothing was lost and nothing unnamed entered service. Prints a table
of the faults injected, the instances and their outcomes, and the invariant violations (which must be 0).
Exit code 0 when every run had 0 violations, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from chaos.config import FAULT_NAMES, FAULTS, SOAK, SOAK_SEEDS, ChaosConfig
from cli.common import EXIT_FAILURES, UsageError

if TYPE_CHECKING:
    from chaos.report import ChaosReport


def register(subparsers: Any, help_text: str) -> None:
    fault_lines = "\n".join(f"  {f.name:<26} {f.description}" for f in FAULTS)
    parser = subparsers.add_parser(
        "chaos",
        help=help_text,
        description=f"{__doc__}\nfaults:\n{fault_lines}",
        epilog="examples:\n  asg-namer chaos --seed 7\n  asg-namer chaos --soak --json soak.json\n"
        "  asg-namer chaos --faults throttling,poison --instances 20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, action="append", help="seed of a run (repeat for several runs; default 7)")
    parser.add_argument("--soak", action="store_true", help="the long configuration of `make soak` (seeds 1, 2, 3)")
    parser.add_argument("--groups", type=int, help=f"fully tagged groups (default 2; soak {SOAK.groups})")
    parser.add_argument("--instances", type=int, help=f"instances per tagged group (default 6; soak {SOAK.instances})")
    parser.add_argument("--faults", help=f"comma-separated subset of: {', '.join(FAULT_NAMES)} (default: all)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for quiescence per run (default 120)")
    parser.add_argument("--json", metavar="PATH", help="write the results (violations, per-invariant) as JSON")
    parser.add_argument("--verbose", action="store_true", help="show the trigger's warnings (failed invocations)")
    parser.set_defaults(run=run)


def build_configs(args: argparse.Namespace) -> list[ChaosConfig]:
    base = SOAK if args.soak else ChaosConfig()
    changes: dict[str, Any] = {}
    if args.groups is not None:
        changes["groups"] = args.groups
    if args.instances is not None:
        changes["instances"] = args.instances
    if args.timeout is not None:
        changes["timeout"] = args.timeout
    if args.faults is not None:
        changes["faults"] = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    seeds = args.seed or (list(SOAK_SEEDS) if args.soak else [base.seed])
    try:
        return [replace(base, seed=seed, **changes) for seed in seeds]
    except ValueError as error:
        raise UsageError(f"{error}; see 'asg-namer chaos --help'") from error


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from chaos.runner import run_chaos  # noqa: PLC0415 - the sandbox extra is only needed to run
    from sandbox.lambda_runtime import environment  # noqa: PLC0415
    from sandbox.server import Sandbox  # noqa: PLC0415

    configs = build_configs(args)
    if not args.verbose:
        logging.getLogger("sandbox").setLevel(logging.ERROR)
    reports: list[ChaosReport] = []
    with Sandbox(clock_scale=configs[0].clock_scale) as sandbox, environment(sandbox.env()):
        for config in configs:
            print(f"== seed {config.seed}", file=out, flush=True)
            report = run_chaos(config, sandbox, out=lambda line: print(f"  {line}", file=out, flush=True))
            print(report.table(), file=out, flush=True)
            reports.append(report)
    violations = sum(r.violations for r in reports)
    if args.json:
        payload: dict[str, Any] = {"violations": violations, "runs": [r.to_json() for r in reports]}
        if len(reports) == 1:
            payload.update({k: v for k, v in reports[0].to_json().items() if k != "violations"})
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"results written to {args.json}", file=out)
    print(f"\nTotal violations over {len(reports)} run(s): {violations}", file=out)
    return EXIT_FAILURES if violations else 0
