"""``asg-namer preview``: the name the template gives every instance of a group, or exactly why it cannot.

Writes nothing. The template is --name-template, else the one in the group's launch hook metadata,
else NAME_TEMPLATE, else the default: the handler's own resolution (with --stack, the function's
settings). It shows names another live instance already holds (they would be suffixed) and, for {slot}
templates, the number each instance holds or would get. Exit 0 when every instance can be named, 1 when
some cannot.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Any

from cli import lookup, sweep
from cli.backfill import add_template_options
from cli.common import EXIT_FAILURES, EXIT_OK, Aws, add_aws_options
from handler.config import Settings
from handler.naming import NeedsSlot
from handler.slots import SlotAllocator
from handler.sweep import NAMING_ACTIONS, Action, Step, SweepPlan

EPILOG = """\
examples:
  asg-namer preview --asg web-prod
  asg-namer preview --asg web-prod --stack asg-namer
  asg-namer preview --asg web-prod --name-template '{tag:App}-{tag:Env}-{slot:2}'
"""


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "preview",
        help=help_text,
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--asg", required=True, help="Auto Scaling group name")
    parser.add_argument("--stack", help="asg-namer stack: use its function's settings")
    add_template_options(parser)
    add_aws_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with sweep.quiet_handler_logs():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    settings = sweep.settings_for(aws, args.stack, tag_key=args.tag_key)
    explicit = sweep.template_option(args.name_template)
    reconcile = sweep.sweep_for(aws, settings)
    plan = sweep.plan_for(aws, reconcile, [args.asg], fix_drift=True, template=explicit)
    sweep.describe_templates(reconcile, plan.groups, explicit)
    print(f"Tag key {settings.name_tag_key!r}" + (" (host labels: HOSTNAME_SAFE)" if settings.hostname_safe else ""))
    group = lookup.group(aws, args.asg)
    lookup.warn_if_hostnames_cannot_be_read(aws, group, settings.name_tag_key, settings.hostname_safe)
    if not plan.steps:
        print(f"{args.asg} has no instances.")
        return EXIT_OK
    print_preview(aws, plan, settings)
    lookup.warn_if_hostnames_cannot_be_read(
        aws, lookup.group(aws, args.asg), settings.name_tag_key, settings.hostname_safe
    )
    problems = plan.count(Action.FAIL) + plan.count(Action.WAIT)
    changes = plan.writes
    print(
        f"\n{len(plan.steps)} instance(s): {changes} would be (re)named, {plan.count(Action.OK)} unchanged,"
        f" {problems} cannot be named."
    )
    return EXIT_FAILURES if problems else EXIT_OK


def print_preview(aws: Aws, plan: SweepPlan, settings: Settings) -> None:
    """The plan with what each name would meet: another live instance holding it, and a {slot} template's
    number (the one an instance holds, or the one it would get, read without claiming)."""
    names = {step.instance_id: step.wanted for step in plan.steps if isinstance(step.wanted, str)}
    pools: dict[str, list[str]] = defaultdict(list)
    for step in plan.steps:
        if isinstance(step.wanted, NeedsSlot):
            pools[step.wanted.pool].append(step.instance_id)
    if pools and settings.slot_table:
        slots = SlotAllocator(aws.fleet(), settings.slot_table, settings.gone_after_seconds)
        slots.known_alive(plan.instances)
        for pool, instance_ids in pools.items():
            for instance_id, slot in slots.preview(pool, instance_ids).items():
                wanted = next(s.wanted for s in plan.steps if s.instance_id == instance_id)
                assert isinstance(wanted, NeedsSlot)
                names[instance_id] = str(wanted.name_for(slot))
    to_check = [name for i, name in names.items() if _changes(plan, i)]
    taken = aws.fleet().instances_named(settings.name_tag_key, to_check) if to_check else {}
    print(f"{'instance':<21} {'lifecycle state':<16} {'private IP':<15} {'current name':<30} name from template")
    for step in plan.steps:
        record = plan.instances.get(step.instance_id)
        ip = (record.private_ip if record else None) or "-"
        print(
            f"{step.instance_id:<21} {step.lifecycle_state:<16} {ip:<15} {step.current or '(none)':<30}"
            f" {_outcome(step, names.get(step.instance_id), taken)}"
        )


def _changes(plan: SweepPlan, instance_id: str) -> bool:
    return any(s.instance_id == instance_id and s.action in NAMING_ACTIONS for s in plan.steps)


def _outcome(step: Step, name: str | None, taken: dict[str, frozenset[str]]) -> str:
    if step.action in (Action.FAIL, Action.WAIT):
        return f"cannot name: {step.reason}"
    if step.action is Action.OK:
        return f"{step.current}  (unchanged)"
    if name is None:  # a {slot} template without SLOT_TABLE
        return f"{step.shown_name}  (needs SLOT_TABLE)"
    others = sorted(taken.get(name, frozenset()) - {step.instance_id})
    collision = f"  (taken by {others[0]}: would be suffixed)" if others else ""
    return f"{name}{collision}"
