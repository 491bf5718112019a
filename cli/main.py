"""``asg-namer``: the operator's command line. Each subcommand lives in its own module under cli/."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from cli.common import EXIT_FAILURES, EXIT_USAGE, CliError

# Each module defines register(subparsers) and sets a ``run(args) -> int`` default on its parser.
COMMAND_MODULES = (
    "cli.demo",
    "cli.sandbox_command",
    "cli.bench",
    "cli.attach",
    "cli.preview",
    "cli.backfill",
    "cli.redrive",
    "cli.status",
    "cli.package",
    "cli.deploy",
    "cli.chaos",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asg-namer",
        description="Names EC2 instances launched by Auto Scaling groups before they enter service.",
        epilog="Run 'asg-namer COMMAND --help' for a command's options and an example.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CliError as error:
        print(f"asg-namer {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except NoCredentialsError:
        print(
            f"asg-namer {args.command}: no AWS credentials; configure a profile (--profile) or export AWS_* variables",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Error")
        message = error.response.get("Error", {}).get("Message", str(error))
        print(f"asg-namer {args.command}: AWS said {code}: {message}", file=sys.stderr)
        return EXIT_FAILURES
    except BotoCoreError as error:
        print(f"asg-namer {args.command}: {error}; check --region and AWS_ENDPOINT_URL", file=sys.stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt:
        print(f"asg-namer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
