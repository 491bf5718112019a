"""``asg-namer sweep``: the scheduled reconcile, run here with a plan and a progress bar.

The very code the function runs on its schedule (handler/sweep.py): every instance of the served groups
gets the name the template gives it; a different name is drift (reported; renamed with --fix-drift); two
live instances with one name: the younger is suffixed; an instance stuck in Pending:Wait on the stack's
hook for longer than SWEEP_STUCK_AFTER_SECONDS is named and released. The settings are the function's
(--stack reads its environment), else this shell's environment. ``backfill`` is the sweep of one group.
Exit 0 when everything is named, 1 when some instances could not be named (or were left for later).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from cli import lookup
from cli.common import EXIT_FAILURES, EXIT_OK, Aws, CliError, UsageError, add_aws_options
from cli.progress import Progress, confirm
from handler.config import ConfigError, Settings, load_settings
from handler.hooks import HookDirectory
from handler.naming import NameTemplate, TemplateError, TemplateSource
from handler.observability import logger, new_metrics
from handler.sweep import NAMING_ACTIONS, Action, Step, StepResult, Sweep, SweepPlan, SweepSummary

EPILOG = """\
examples:
  asg-namer sweep --stack asg-namer --dry-run          # the plan: what the next scheduled sweep would do
  asg-namer sweep --stack asg-namer --yes
  asg-namer sweep --queue-arn arn:aws:sqs:eu-west-1:123456789012:asg-namer-lifecycle --asg web-prod --fix-drift
"""
FUNCTION_NAME_KEYS = ("FunctionName",)
NO_DEADLINE = 24 * 3600.0


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help=help_text,
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stack", help="asg-namer stack: its function's settings and queue")
    source.add_argument("--queue-arn", help="the queue whose launch hooks say which groups are served")
    parser.add_argument("--asg", action="append", default=[], help="sweep only this group (repeatable)")
    parser.add_argument("--fix-drift", action="store_true", help="rename instances whose name differs too")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and write nothing")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    add_aws_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with quiet_handler_logs():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    settings = settings_for(aws, args.stack, queue_arn=args.queue_arn)
    if not args.asg and not settings.queue_arn and not settings.sweep_groups:
        raise UsageError("say what to sweep: --stack, --queue-arn or --asg GROUP")
    sweep = sweep_for(aws, settings)
    plan = plan_for(aws, sweep, args.asg, fix_drift=args.fix_drift or None)
    print(f"Served groups: {', '.join(plan.groups) or '(none)'}")
    return execute(sweep, plan, dry_run=args.dry_run, yes=args.yes, what="the served groups")


def settings_for(aws: Aws, stack: str | None, *, queue_arn: str | None = None, tag_key: str | None = None) -> Settings:
    """The function's settings: its environment read from the stack (--stack), else this shell's."""
    if stack:
        outputs = lookup.stack_outputs(aws, stack)
        function = lookup.output(outputs, FUNCTION_NAME_KEYS, stack)
        configuration = aws.client("lambda").get_function_configuration(FunctionName=function)
        env = dict(configuration.get("Environment", {}).get("Variables", {}))
        source = f"function {function}'s environment"
    else:
        env, source = dict(os.environ), "this shell's environment"
    if queue_arn:
        env["QUEUE_ARN"] = queue_arn
    if tag_key:
        env["NAME_TAG_KEY"] = tag_key
    env.setdefault("AWS_REGION", aws.region)
    try:
        return load_settings(env)
    except ConfigError as error:
        raise CliError(f"{source}: {error}") from None


@contextlib.contextmanager
def quiet_handler_logs() -> Iterator[None]:
    """The handler's JSON log lines are for CloudWatch; here the command reports what happens."""
    level = logger.log_level
    logger.setLevel("CRITICAL")
    try:
        yield
    finally:
        logger.setLevel(level)


def sweep_for(aws: Aws, settings: Settings) -> Sweep:
    """The handler's sweep with this session's clients."""
    fleet = aws.fleet()
    return Sweep(settings, fleet, new_metrics(settings.metrics_namespace, settings.service_name), HookDirectory(fleet))


def plan_for(
    aws: Aws, reconcile: Sweep, groups: Sequence[str], *, fix_drift: bool | None, template: NameTemplate | None = None
) -> SweepPlan:
    """The sweep's plan; a group asked for by name that does not exist is a one-line error."""
    plan = reconcile.plan(groups, fix_drift=fix_drift, template=template)
    missing = sorted(set(groups) - set(plan.groups))
    if missing:
        raise CliError(
            f"Auto Scaling group {missing[0]!r} not found in {aws.region}; check --asg and --region"
            " (aws autoscaling describe-auto-scaling-groups lists them)"
        )
    return plan


def template_option(text: str | None) -> NameTemplate | None:
    return lookup.parse_template(text) if text is not None else None


def describe_templates(sweep: Sweep, groups: Sequence[str], explicit: NameTemplate | None) -> None:
    """One line per group: the template and where it comes from (the same resolution as the handler's)."""
    for group in groups:
        try:
            resolved, hook = sweep.template_for(group, explicit)
        except TemplateError as error:
            print(f"Group {group}: its hook carries a bad template ({error}); fix it with asg-namer attach")
            continue
        source = {
            TemplateSource.EXPLICIT: "--name-template",
            TemplateSource.HOOK_METADATA: f"metadata of hook {hook.name!r}" if hook else "hook metadata",
            TemplateSource.CONFIGURED: "NAME_TEMPLATE, else the default",
        }[resolved.source]
        print(f"Template {resolved.template.source!r} (from {source}) for {group}")


def print_plan(plan: SweepPlan) -> None:
    print(f"{'instance':<21} {'group':<24} {'lifecycle state':<16} {'current name':<30} plan")
    for step in plan.steps:
        print(
            f"{step.instance_id:<21} {step.group[:24]:<24} {step.lifecycle_state:<16} {step.current or '(none)':<30}"
            f" {_planned(step)}"
        )


def _planned(step: Step) -> str:
    release = f", then release (hook {step.release_hook})" if step.release_hook else ""
    if step.action in NAMING_ACTIONS:
        return f"{step.action.value} -> {step.shown_name}{release}"
    if step.action is Action.OK:
        return f"{step.current}  (unchanged){release}"
    if step.action is Action.DRIFT:
        return f"drift: the template says {step.shown_name}; left (--fix-drift / --overwrite renames)"
    if step.action is Action.FAIL:
        return f"cannot name: {step.reason}{release}"
    return f"not yet: {step.reason}"


def execute(sweep: Sweep, plan: SweepPlan, *, dry_run: bool, yes: bool, what: str) -> int:
    """The plan, then (unless --dry-run, and after asking) the writes, then a summary; the exit code."""
    print_plan(plan)
    writes = plan.writes
    releases = sum(1 for step in plan.steps if step.release_hook)
    failing = plan.count(Action.FAIL) + plan.count(Action.WAIT)
    print(
        f"\n{len(plan.steps)} instance(s): {writes} to (re)name, {plan.count(Action.OK)} already named,"
        f" {plan.count(Action.DRIFT)} drifted (left), {failing} cannot be named now, {releases} to release."
    )
    if dry_run:
        print("dry run: nothing written.")
        return EXIT_FAILURES if failing else EXIT_OK
    if writes or releases:
        if not yes and not confirm(f"Write names on {writes} and release {releases} instance(s) of {what}?"):
            print("Nothing written.")
            return EXIT_OK
        summary = apply(sweep, plan)
        print(
            f"\nNamed {summary.named} instance(s), {summary.released} released, {summary.failed} cannot be named,"
            f" {summary.errors} failed."
        )
        if summary.errors or summary.waiting:
            print("Run the same command again for what is left (it only writes what still differs).")
        return EXIT_FAILURES if summary.failed or summary.errors or summary.waiting else EXIT_OK
    print("Nothing to write: every nameable instance already has its name.")
    return EXIT_FAILURES if failing else EXIT_OK


def apply(sweep: Sweep, plan: SweepPlan) -> SweepSummary:
    """The writes, one line per instance changed, a progress bar on stderr."""
    progress = Progress(len(plan.steps))
    done = 0

    def report(step: Step, result: StepResult) -> None:
        nonlocal done
        done += 1
        if result.written is not None:
            print(f"{step.instance_id}: {step.current or '(none)'} -> {result.written}")
        if result.failure is not None:
            print(f"cannot name {step.instance_id}: {result.failure}")
        if result.released is not None:
            print(f"{step.instance_id}: released from Pending:Wait ({result.released})")
        if result.error is not None:
            print(f"{step.instance_id}: FAILED: {result.error}")
        progress.update(done)

    return sweep.apply(plan, time.monotonic() + NO_DEADLINE, report)
