"""``asg-namer preview``: the name the template gives every instance of a group, or exactly why it cannot.

Writes nothing. The template is --name-template, else the one in the group's launch hook metadata,
else NAME_TEMPLATE from the environment, else the default: the order the handler uses.
Exit 0 when every instance can be named, 1 when some cannot.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

from cli import lookup
from cli.common import EXIT_FAILURES, EXIT_OK, Aws, add_aws_options
from handler.naming import NameTemplate

EPILOG = """\
examples:
  asg-namer preview --asg web-prod
  asg-namer preview --asg web-prod --name-template '{tag:App}-{tag:Env}-{ip3}-{ip4}'
"""

SKIPPED_LIFECYCLE_PREFIXES = ("Terminat", "Detach")
LIVE_EC2_STATES = ("pending", "running", "stopping", "stopped")


@dataclass(frozen=True)
class PlannedName:
    """One instance: its current name and the wanted one, or the reason there is none."""

    instance_id: str
    lifecycle_state: str
    private_ip: str | None
    current: str | None
    wanted: str | None
    problem: str | None

    @property
    def changes(self) -> bool:
        return self.wanted is not None and self.wanted != self.current


def add_template_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name-template", help="template to use instead of the hook's / NAME_TEMPLATE / default")
    parser.add_argument(
        "--tag-key",
        default=os.environ.get("NAME_TAG_KEY") or "Name",
        help="tag key the name goes to (default NAME_TAG_KEY or Name)",
    )


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "preview",
        help=help_text,
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--asg", required=True, help="Auto Scaling group name")
    add_template_options(parser)
    add_aws_options(parser)
    parser.set_defaults(run=run)


def plan(aws: Aws, asg_name: str, template: NameTemplate, tag_key: str) -> list[PlannedName]:
    """Names for the group's live instances, sorted by instance id; reads only."""
    group = lookup.group(aws, asg_name)
    states = {
        i["InstanceId"]: i.get("LifecycleState", "?")
        for i in group.get("Instances", [])
        if not i.get("LifecycleState", "").startswith(SKIPPED_LIFECYCLE_PREFIXES)
    }
    described = aws.fleet().describe(states)
    planned = []
    for instance_id in sorted(states):
        instance = described.get(instance_id)
        if instance is None:
            planned.append(
                PlannedName(instance_id, states[instance_id], None, None, None, "EC2 does not know this instance")
            )
            continue
        current = instance.tags.get(tag_key)
        if instance.state not in LIVE_EC2_STATES:
            problem = f"instance is {instance.state}"
            planned.append(PlannedName(instance_id, states[instance_id], instance.private_ip, current, None, problem))
            continue
        result = template.render(instance.facts(asg_name, aws.region))
        if isinstance(result, str):
            planned.append(PlannedName(instance_id, states[instance_id], instance.private_ip, current, result, None))
        else:
            planned.append(
                PlannedName(instance_id, states[instance_id], instance.private_ip, current, None, result.reason)
            )
    return planned


def print_plan(planned: list[PlannedName]) -> None:
    print(f"{'instance':<21} {'lifecycle state':<16} {'private IP':<15} {'current name':<30} name from template")
    for row in planned:
        outcome = (
            f"cannot name: {row.problem}"
            if row.problem
            else (row.wanted + ("  (unchanged)" if not row.changes else "") if row.wanted else "")
        )
        print(
            f"{row.instance_id:<21} {row.lifecycle_state:<16} {row.private_ip or '-':<15}"
            f" {row.current or '(none)':<30} {outcome}"
        )


def run(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    chosen = lookup.choose_template(aws, args.asg, args.name_template)
    planned = plan(aws, args.asg, chosen.template, args.tag_key)
    print(f"Template {chosen.template.source!r} (from {chosen.source}), tag key {args.tag_key!r}")
    if not planned:
        print(f"{args.asg} has no instances.")
        return EXIT_OK
    print_plan(planned)
    problems = sum(1 for row in planned if row.problem)
    changes = sum(1 for row in planned if row.changes)
    print(
        f"\n{len(planned)} instance(s): {changes} would be (re)named, {len(planned) - changes - problems} unchanged,"
        f" {problems} cannot be named."
    )
    return EXIT_FAILURES if problems else EXIT_OK
