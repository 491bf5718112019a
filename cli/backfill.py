"""``asg-namer backfill``: name the instances a group already runs; the sweep of one group.

For instances launched before the hook existed, or whose events were missed. The same code as the
scheduled sweep (handler/sweep.py): one DescribeInstances per 200 instances, one CreateTags per instance
whose name changes, adaptive retries on throttling. It prints the plan (instance, current name, new name)
and asks before writing. It never overwrites a different existing name without --overwrite, and with
--stack it uses the function's own settings (NAME_TEMPLATE, NAME_TAG_KEY, ...) and also releases instances
stuck in Pending:Wait on the stack's hook; without --stack it never touches lifecycle actions.
Exit 0 when every instance has its name, 1 when some could not be named or tagged.
"""

from __future__ import annotations

import argparse
from typing import Any

from cli import sweep
from cli.common import Aws, add_aws_options

EPILOG = """\
examples:
  asg-namer backfill --asg web-prod --stack asg-namer --dry-run     # the plan, with the function's settings
  asg-namer backfill --asg web-prod --stack asg-namer               # asks, then writes
  asg-namer backfill --asg web-prod --yes --overwrite               # also rename instances named otherwise
"""


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help=help_text,
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--asg", required=True, help="Auto Scaling group name")
    parser.add_argument("--stack", help="asg-namer stack: use its function's template, tag key and hook")
    parser.add_argument("--dry-run", action="store_true", help="show what would change and write nothing")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    parser.add_argument("--overwrite", action="store_true", help="also replace names that differ from the template's")
    add_template_options(parser)
    add_aws_options(parser)
    parser.set_defaults(run=run)


def add_template_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name-template", help="template to use instead of the hook's / NAME_TEMPLATE / default")
    parser.add_argument("--tag-key", help="tag key the name goes to (default: the function's NAME_TAG_KEY, or Name)")


def run(args: argparse.Namespace) -> int:
    with sweep.quiet_handler_logs():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    settings = sweep.settings_for(aws, args.stack, tag_key=args.tag_key)
    explicit = sweep.template_option(args.name_template)
    reconcile = sweep.sweep_for(aws, settings)
    plan = sweep.plan_for(aws, reconcile, [args.asg], fix_drift=args.overwrite, template=explicit)
    sweep.describe_templates(reconcile, plan.groups, explicit)
    print(f"Tag key {settings.name_tag_key!r}")
    if not plan.steps:
        print(f"{args.asg} has no instances; nothing to do.")
        return 0
    return sweep.execute(reconcile, plan, dry_run=args.dry_run, yes=args.yes, what=args.asg)
