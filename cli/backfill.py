"""``asg-namer backfill``: name the instances a group already runs (the one-shot scan).

For instances launched before the hook existed, or named by an older template. One DescribeInstances
per 200 instances, then one CreateTags per instance whose name differs (CreateTags takes many resources
only when they get the same value). Throttling is expected on big groups (CreateTags: 100 at once, then
10 per second per account and Region): calls use adaptive retries and back off further on
RequestLimitExceeded. Only tags are written: lifecycle actions are never touched.
Exit 0 when every instance has its name, 1 when some could not be named or tagged.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from cli import lookup
from cli.common import EXIT_FAILURES, EXIT_OK, Aws, UsageError, add_aws_options
from cli.preview import PlannedName, add_template_options, plan, print_plan

EPILOG = """\
examples:
  asg-namer backfill --asg web-prod --dry-run     # what would change, writes nothing
  asg-namer backfill --asg web-prod --yes         # tag without asking
"""

THROTTLE_CODES = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled"})
OUTER_ROUNDS = 8  # rounds of (botocore's adaptive retries + our backoff) before an instance counts as failed
MAX_BACKOFF_SECONDS = 20.0


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help=help_text,
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--asg", required=True, help="Auto Scaling group name")
    parser.add_argument("--dry-run", action="store_true", help="show what would change and write nothing")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    add_template_options(parser)
    add_aws_options(parser)
    parser.set_defaults(run=run)


class Progress:
    """A plain-text progress bar on stderr: redrawn in place on a terminal, a line per 10% otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.total = max(total, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_decile = -1

    def update(self, done: int, note: str = "") -> None:
        filled = self.width * done // self.total
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {note}".rstrip()
        if self._tty:
            self.stream.write("\r" + line)
            if done >= self.total:
                self.stream.write("\n")
        else:
            decile = 10 * done // self.total
            if decile == self._last_decile and done < self.total:
                return
            self._last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()


def tag_instance(
    ec2: Any, instance_id: str, key: str, value: str, sleep: Callable[[float], None] = time.sleep
) -> str | None:
    """CreateTags for one instance; None when done, else why it failed. Throttling is waited out."""
    backoff = 1.0
    for _ in range(OUTER_ROUNDS):
        try:
            ec2.create_tags(Resources=[instance_id], Tags=[{"Key": key, "Value": value}])
            return None
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code not in THROTTLE_CODES and status < 500:
                return f"{code}: {error.response.get('Error', {}).get('Message', '')}"
            last = code or f"HTTP {status}"
        except BotoCoreError as error:  # connection errors that outlived botocore's retries
            last = str(error)
        sleep(random.uniform(backoff / 2, backoff))
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    return f"gave up after {OUTER_ROUNDS} rounds of retries (last: {last}); run backfill again later"


def confirm(count: int, asg: str, tag_key: str) -> bool:
    stdin = sys.stdin
    if stdin is None or not _isatty(stdin):
        raise UsageError(
            f"about to tag {count} instance(s) of {asg} and there is no terminal to confirm on; pass --yes"
            " (or --dry-run to only look)"
        )
    answer = input(f"Write the {tag_key!r} tag on {count} instance(s) of {asg}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def run(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    chosen = lookup.choose_template(aws, args.asg, args.name_template)
    planned = plan(aws, args.asg, chosen.template, args.tag_key)
    to_change = [row for row in planned if row.changes]
    problems = [row for row in planned if row.problem]
    print(f"Template {chosen.template.source!r} (from {chosen.source}), tag key {args.tag_key!r}")
    if not planned:
        print(f"{args.asg} has no instances; nothing to do.")
        return EXIT_OK
    for row in problems:
        print(f"cannot name {row.instance_id}: {row.problem}")
    if args.dry_run:
        print_plan(planned)
        print(
            f"\ndry run: {len(to_change)} instance(s) would be (re)named, {len(problems)} cannot be named;"
            " nothing written."
        )
        return EXIT_FAILURES if problems else EXIT_OK
    if not to_change:
        print(f"Every nameable instance of {args.asg} already has its name ({len(planned) - len(problems)}).")
        return EXIT_FAILURES if problems else EXIT_OK
    if not args.yes and not confirm(len(to_change), args.asg, args.tag_key):
        print("Nothing written.")
        return EXIT_OK
    failed = _tag_all(aws, to_change, args.tag_key)
    renamed = len(to_change) - len(failed)
    print(
        f"\nNamed {renamed} instance(s), {len(planned) - len(to_change) - len(problems)} already named,"
        f" {len(problems)} cannot be named, {len(failed)} failed."
    )
    if failed:
        print("Run the same command again to retry the failed ones (it only writes what still differs).")
    return EXIT_FAILURES if failed or problems else EXIT_OK


def _tag_all(aws: Aws, rows: list[PlannedName], tag_key: str) -> list[PlannedName]:
    ec2 = aws.client("ec2")
    progress = Progress(len(rows))
    failed: list[PlannedName] = []
    for done, row in enumerate(rows, start=1):
        assert row.wanted is not None  # rows that change always have a wanted name
        problem = tag_instance(ec2, row.instance_id, tag_key, row.wanted)
        if problem is None:
            print(f"{row.instance_id}: {row.current or '(none)'} -> {row.wanted}")
        else:
            failed.append(row)
            print(f"{row.instance_id}: FAILED to tag {row.wanted!r}: {problem}")
        progress.update(done, f"tagged, {len(failed)} failed" if failed else "tagged")
    return failed
