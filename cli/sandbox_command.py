"""``asg-namer sandbox``: serve the embedded local AWS (same as ``python -m sandbox``)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help=help_text,
        description=__doc__,
        epilog="example: asg-namer sandbox --port 5000   # then export the AWS_ENDPOINT_URL line it prints",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=5000, help="TCP port (0 picks a free one)")
    parser.add_argument("--clock-scale", type=float, default=1.0, help="sandbox seconds per real second")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from sandbox.__main__ import main  # noqa: PLC0415 - the sandbox extra is only needed for this command

    return main(["--port", str(args.port), "--clock-scale", str(args.clock_scale)])
