"""``asg-namer``: the operator's command line.

A registry of commands whose modules load only when that command runs: ``asg-namer status --help`` imports
cli.status and nothing else, so the operator's commands need neither the embedded local AWS (moto) nor
matplotlib; the commands that do say in one line which extra to install.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from cli.common import EXIT_FAILURES, EXIT_USAGE, CliError
from handler.fleet import TransientAwsError


@dataclass(frozen=True)
class Command:
    """One subcommand: its module defines ``register(subparsers)``, which sets a ``run(args) -> int`` default."""

    name: str
    module: str
    help: str


COMMANDS = (
    Command("deploy", "cli.deploy", "package, upload and deploy the CloudFormation stack (change set, wait, outputs)"),
    Command("attach", "cli.attach", "put the launch lifecycle hook on an existing Auto Scaling group"),
    Command("preview", "cli.preview", "show the name every instance of a group would get (writes nothing)"),
    Command("backfill", "cli.backfill", "name the instances a group already runs: the sweep of one group"),
    Command("sweep", "cli.sweep", "the scheduled reconcile, here: name what the events missed (plan, then ask)"),
    Command("status", "cli.status", "instances in Pending:Wait, queue and DLQ depth, age of the oldest message"),
    Command("redrive", "cli.redrive", "summarise the dead-letter queue, then move its messages back to the queue"),
    Command("package", "cli.package", "build dist/lambda.zip, the Lambda artifact (deterministic, pure Python)"),
    Command(
        "demo",
        "cli.demo",
        "scale out two groups on the embedded local AWS: names by IP and unique numbers, host names from them",
    ),
    Command("sandbox", "cli.sandbox_command", "serve the embedded local AWS on 127.0.0.1"),
    Command("bench", "cli.bench", "benchmark release time of a scale-out against the throttling floor and a baseline"),
    Command("chaos", "cli.chaos", "run the fault suite on the embedded local AWS and check its invariants"),
)

# Third-party packages that only an extra installs, and that extra.
EXTRA_OF_PACKAGE = {"moto": "sandbox", "werkzeug": "sandbox", "flask": "sandbox", "matplotlib": "bench"}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The full parser of the command named in ``argv``; every other command only by name and help."""
    parser = argparse.ArgumentParser(
        prog="asg-namer",
        description="Names EC2 instances launched by Auto Scaling groups before they enter service.",
        epilog="Run 'asg-namer COMMAND --help' for a command's options and an example.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for command in COMMANDS:
        if command.name == chosen:
            importlib.import_module(command.module).register(subparsers, command.help)
        else:
            subparsers.add_parser(command.name, help=command.help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(arguments).parse_args(arguments)
        return int(args.run(args))
    except ModuleNotFoundError as error:
        extra = EXTRA_OF_PACKAGE.get((error.name or "").partition(".")[0])
        if extra is None:
            raise
        command = next((arg for arg in arguments if not arg.startswith("-")), "")
        print(
            f"asg-namer {command}: needs the '{extra}' extra ({error.name} is not installed):"
            f" pip install 'asg-namer[{extra}]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
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
    except TransientAwsError as error:
        print(f"asg-namer {args.command}: AWS kept failing ({error}); run the command again later", file=sys.stderr)
        return EXIT_FAILURES
    except BotoCoreError as error:
        print(f"asg-namer {args.command}: {error}; check --region and AWS_ENDPOINT_URL", file=sys.stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt:
        print(f"asg-namer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
