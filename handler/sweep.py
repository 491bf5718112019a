"""The reconcile: every instance this deployment serves ends up named, whatever events were missed.

Events are a hint to act now; the fleet's state is the truth. A hook attached after a group launched, an
EventBridge event dropped (best effort), a purged queue, an expired DLQ message or a broken function that
timed out with CONTINUE all leave instances unnamed; a schedule invokes the function with AWS's scheduled
event and it sweeps (the CLI's ``sweep`` and ``backfill`` run the very same code).

Which groups: those with a launch hook notifying this deployment's queue (QUEUE_ARN), plus SWEEP_GROUPS;
never another. Per served instance (lifecycle states Pending .. InService, Standby, warm pools): no Name ->
name it with the queue path's template resolution; a different Name -> drift, left (renamed with
SWEEP_FIX_DRIFT); two live instances with one Name -> the younger is suffixed; waiting in Pending:Wait on
this deployment's hook for longer than SWEEP_STUCK_AFTER_SECONDS since launch -> named and released by
instance id (CONTINUE, or the failure policy's result); no IP yet -> the next sweep.

It never starves the live path: one DescribeAutoScalingGroups page per 100 groups, hooks from the per
environment cache (one DescribeLifecycleHooks per group every few minutes), one DescribeInstances per 200
instances, one more per 200 names it writes (the collision check), one write per instance it changes,
sequentially, stopping before the deadline. A sweep with nothing to do writes nothing.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics

from handler.config import FAILURE_TAG_KEY, Settings
from handler.errors import NotReady, PermanentNamingFailure
from handler.failure_policy import FailurePolicy, reason_tag_value
from handler.fleet import ActionNotActive, Fleet, GroupRecord, HookRecord, InstanceRecord, TransientAwsError
from handler.hooks import HookDirectory
from handler.name_writer import NameWriter, with_suffix
from handler.naming import (
    SLOT_IN_POOL,
    InvalidName,
    MissingIp,
    MissingTag,
    NameTemplate,
    NeedsSlot,
    ResolvedTemplate,
    TemplateError,
    resolve_template,
)
from handler.observability import Metric, count, logger

PENDING_WAIT = "Pending:Wait"
_LEFT_STATES = ("Terminat", "Detach", "Quarantined", "Warmed:Terminat")


class Action(StrEnum):
    """What the sweep does (or would do, in a plan) with one instance."""

    NAME = "name"  # no Name yet
    RENAME = "rename"  # a different Name, and drift is fixed
    DEDUPLICATE = "deduplicate"  # a younger instance sharing its Name with an older one
    DRIFT = "drift"  # a different Name, left as it is
    OK = "ok"  # already named as the template says
    WAIT = "wait"  # cannot be named yet (no private IP, not visible to EC2): the next sweep
    FAIL = "fail"  # cannot be named (a missing tag, an invalid name): the reason tag


NAMING_ACTIONS = frozenset({Action.NAME, Action.RENAME, Action.DEDUPLICATE})


@dataclass(frozen=True)
class Step:
    instance_id: str
    group: str
    lifecycle_state: str
    current: str | None
    action: Action
    wanted: str | NeedsSlot | None = None  # rendered (a slot template: the pool, its number comes at apply)
    reason: str | None = None
    release_hook: str | None = None  # stuck in Pending:Wait on this hook: complete it after naming

    @property
    def shown_name(self) -> str:
        if isinstance(self.wanted, NeedsSlot):
            return self.wanted.pool.replace(SLOT_IN_POOL, "{next free number}")
        return self.wanted or ""


@dataclass
class SweepPlan:
    groups: list[str]
    steps: list[Step]
    instances: dict[str, InstanceRecord]
    complete: bool = True  # False: the deadline came before every group was read

    def count(self, action: Action) -> int:
        return sum(1 for step in self.steps if step.action is action)

    @property
    def writes(self) -> int:
        """Names to write: a plan with none writes nothing (a reason tag or a release at most)."""
        return sum(1 for step in self.steps if step.action in NAMING_ACTIONS)


@dataclass(frozen=True)
class StepResult:
    """What applying one step did."""

    written: str | None = None  # the name now on the instance, when the step wrote one
    failure: str | None = None  # why it cannot be named (the reason tag says the same)
    released: str | None = None  # the lifecycle result it was released with
    error: str | None = None  # AWS failed it: the next sweep tries again


@dataclass
class SweepSummary:
    """What the scheduled invocation returns (JSON): at least groups, instances, named, released, drift."""

    groups: int = 0
    instances: int = 0
    named: int = 0
    released: int = 0
    drift: int = 0
    failed: int = 0
    waiting: int = 0
    errors: int = 0
    stopped_early: bool = False
    drifted: list[dict[str, str | None]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def add(self, step: Step, result: StepResult) -> None:
        self.named += result.written is not None
        self.released += result.released is not None
        self.failed += result.failure is not None
        self.errors += result.error is not None
        self.waiting += step.action is Action.WAIT
        if step.action in (Action.DRIFT, Action.RENAME):
            self.drift += 1
            self.drifted.append({"instance": step.instance_id, "group": step.group, "name": step.current})


class Sweep:
    """Plans and applies one reconcile; the Lambda does both at once, the CLI shows the plan first."""

    def __init__(
        self,
        settings: Settings,
        fleet: Fleet,
        metrics: EphemeralMetrics,
        hooks: HookDirectory,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._fleet = fleet
        self._metrics = metrics
        self._hooks = hooks
        self._clock = clock
        self._policy = FailurePolicy(settings, fleet, metrics)

    def run(self, deadline: float) -> SweepSummary:
        """A sweep that AWS cannot serve now (throttled, 5xx, a dropped connection) ends early and returns: the
        next scheduled sweep is its retry. Raising would make Lambda retry the asynchronous invocation twice,
        each retry a cold read of the whole Region, just while AWS throttles the live path's calls."""
        try:
            plan = self.plan(deadline=deadline)
        except TransientAwsError as error:
            logger.warning("sweep could not read the fleet; the next sweep goes on", extra={"error": str(error)})
            return SweepSummary(errors=1, stopped_early=True)
        summary = self.apply(plan, deadline)
        logger.info("sweep finished", extra={"summary": summary.to_json()})
        return summary

    # ------------------------------------------------------------------ plan (reads only)
    def plan(
        self,
        groups: Sequence[str] = (),
        fix_drift: bool | None = None,
        template: NameTemplate | None = None,
        deadline: float | None = None,
    ) -> SweepPlan:
        """Reads the fleet and decides each served instance's step. ``groups``: exactly these (the CLI's
        --asg); else the groups this deployment serves. ``template``: the operator's --name-template.
        ``deadline`` (monotonic): no more groups' hooks are read after it (a cold cache reads one per group of
        the Region); the plan covers the groups found so far and says it is incomplete."""
        fix = self._settings.sweep_fix_drift if fix_drift is None else fix_drift
        served, complete = self._served_groups(groups, deadline)
        members: list[tuple[str, str, str]] = []  # (instance, group, lifecycle state)
        for group in served:
            states = list(group.instances)
            if group.has_warm_pool:
                states += self._fleet.warm_pool_instances(group.name)
            members += [(i, group.name, state) for i, state in states if not state.startswith(_LEFT_STATES)]
        described = self._fleet.describe(i for i, _, _ in members) if members else {}
        steps = [self._step(i, group, state, described.get(i), fix, template) for i, group, state in members]
        steps = _deduplicate(steps, described, self._settings.hostname_safe)
        return SweepPlan([g.name for g in served], steps, described, complete)

    def _served_groups(self, names: Sequence[str], deadline: float | None) -> tuple[list[GroupRecord], bool]:
        """The groups to sweep, and False when the deadline came before every group's hooks were read."""
        if names:
            return self._fleet.groups(names), True
        wanted = set(self._settings.sweep_groups)
        queue = self._settings.queue_arn
        if not queue and not wanted:
            logger.warning("sweep has nothing to serve: set QUEUE_ARN (the stack does) or SWEEP_GROUPS")
            return [], True
        served: list[GroupRecord] = []
        for group in self._fleet.groups():
            if deadline is not None and time.monotonic() >= deadline:
                return served, False
            ours = queue is not None and any(hook.target_arn == queue for hook in self._hooks.hooks(group.name))
            if group.name in wanted or ours:
                served.append(group)
        return served, True

    def template_for(
        self, group: str, explicit: NameTemplate | None = None
    ) -> tuple[ResolvedTemplate, HookRecord | None]:
        """The queue path's resolution for a group (explicit, its served hook's metadata, NAME_TEMPLATE) and the
        hook; TemplateError when the hook's metadata holds a bad template."""
        hook = self._hooks.served_hook(group, self._settings.queue_arn)
        return resolve_template(hook.metadata if hook else None, self._settings.name_template, explicit), hook

    def _step(
        self,
        instance_id: str,
        group: str,
        state: str,
        record: InstanceRecord | None,
        fix: bool,
        explicit: NameTemplate | None,
    ) -> Step:
        if record is None or record.is_gone:
            return Step(instance_id, group, state, None, Action.WAIT, reason="EC2 does not see it (yet)")
        current = record.tags.get(self._settings.name_tag_key) or None
        try:
            resolved, hook = self.template_for(group, explicit)
            template = resolved.template
        except TemplateError as error:
            hook = self._hooks.served_hook(group, self._settings.queue_arn)
            release = self._release_hook(hook, record, state)
            reason = f"the hook's template: {error}"
            return Step(instance_id, group, state, current, Action.FAIL, None, reason, release)
        release = self._release_hook(hook, record, state)
        rendered = template.render(record.facts(group, self._settings.region), self._settings.render_policy)
        if isinstance(rendered, MissingIp):
            return Step(instance_id, group, state, current, Action.WAIT, None, rendered.reason)
        if isinstance(rendered, MissingTag | InvalidName):
            return Step(instance_id, group, state, current, Action.FAIL, None, rendered.reason, release)
        if current is None:
            return Step(instance_id, group, state, current, Action.NAME, rendered, None, release)
        if _is_its_name(current, rendered, instance_id, self._settings.hostname_safe):
            return Step(instance_id, group, state, current, Action.OK, rendered, None, release)
        action = Action.RENAME if fix else Action.DRIFT
        return Step(instance_id, group, state, current, action, rendered, None, release)

    def _release_hook(self, hook: HookRecord | None, record: InstanceRecord, state: str) -> str | None:
        """The hook to complete when the instance is stuck in Pending:Wait on this deployment's hook (never
        another tool's: without QUEUE_ARN the sweep releases nothing)."""
        queue = self._settings.queue_arn
        if hook is None or queue is None or hook.target_arn not in (queue, None):
            return None
        if state != PENDING_WAIT or record.launch_time is None:
            return None
        waited = (self._clock() - record.launch_time).total_seconds()
        return hook.name if waited > self._settings.sweep_stuck_after_seconds else None

    # ------------------------------------------------------------------ apply (writes)
    def apply(
        self,
        plan: SweepPlan,
        deadline: float,
        progress: Callable[[Step, StepResult], None] = lambda step, result: None,
    ) -> SweepSummary:
        """Writes what the plan says, one instance at a time, stopping before ``deadline`` (monotonic)."""
        summary = SweepSummary(groups=len(plan.groups), instances=len(plan.steps), stopped_early=not plan.complete)
        if not plan.complete:
            logger.warning("sweep read only some groups before its deadline; the next sweep reads the others")
        writer = NameWriter(self._settings, self._fleet, self._metrics)
        writer.known_alive(plan.instances)
        writer.prefetch(
            (step.instance_id, step.wanted) for step in plan.steps if step.action in NAMING_ACTIONS and step.wanted
        )
        for step in plan.steps:
            if time.monotonic() >= deadline:
                summary.stopped_early = True
                logger.warning("sweep stopped before its deadline; the next sweep goes on")
                break
            with logger.append_context_keys(instance_id=step.instance_id, asg=step.group, hook=step.release_hook):
                try:
                    result = self._apply(step, plan.instances.get(step.instance_id), writer)
                except (TransientAwsError, NotReady) as error:
                    result = StepResult(error=f"left for the next sweep: {error}")
                    logger.warning("sweep could not finish an instance", extra={"error": result.error})
            summary.add(step, result)
            progress(step, result)
        count(self._metrics, Metric.SWEEP_INSTANCES_NAMED, summary.named)
        count(self._metrics, Metric.SWEEP_ACTIONS_RELEASED, summary.released)
        count(self._metrics, Metric.NAME_DRIFT, summary.drift)
        return summary

    def _apply(self, step: Step, record: InstanceRecord | None, writer: NameWriter) -> StepResult:
        if step.action is Action.WAIT or record is None:
            return StepResult()
        if step.action is Action.DRIFT:
            logger.info("name differs from the template's; left as it is", extra={"instance_name": step.current})
            return StepResult()
        name, reason = None, step.reason
        if step.action in NAMING_ACTIONS:
            try:
                name = self._write_name(step, record, writer)
            except PermanentNamingFailure as failure:
                reason = str(failure)
        if reason is not None and record.tags.get(FAILURE_TAG_KEY) != reason_tag_value(reason):
            self._policy.mark(step.instance_id, reason)
        released = None
        if step.release_hook is not None:
            outcome = "CONTINUE" if reason is None else self._policy.result(step.group)
            released = outcome if self._release(step, outcome) else None
        return StepResult(written=name, failure=reason, released=released)

    def _write_name(self, step: Step, record: InstanceRecord, writer: NameWriter) -> str:
        assert step.wanted is not None
        name = str(step.wanted) if step.action is Action.DEDUPLICATE else writer.final_name(record, step.wanted)
        if writer.write(record, name):
            logger.info("sweep named instance", extra={"instance_name": name, "action": step.action.value})
        return name

    def _release(self, step: Step, result: str) -> bool:
        """CompleteLifecycleAction by instance id: an action already completed or expired is fine."""
        assert step.release_hook is not None
        try:
            self._fleet.complete_by_instance(step.group, step.release_hook, step.instance_id, result)
        except ActionNotActive:
            logger.info("lifecycle action already completed or expired")
            return False
        logger.info("sweep released a stuck instance", extra={"result": result})
        return True


def _is_its_name(current: str, rendered: str | NeedsSlot, instance_id: str, hostname_safe: bool) -> bool:
    """The name the template gives (a slot template: with any number), or that name suffixed for uniqueness."""
    suffix = "-" + instance_id[-4:]
    if current.endswith(suffix):
        base = current[: -len(suffix)]
        if _matches(base, rendered):
            return True
    return _matches(current, rendered)


def _matches(name: str, rendered: str | NeedsSlot) -> bool:
    if isinstance(rendered, str):
        return name == rendered
    prefix, _, rest = rendered.pool.partition(SLOT_IN_POOL)
    return re.fullmatch(re.escape(prefix) + r"\d+" + re.escape(rest), name) is not None


def _deduplicate(steps: list[Step], described: dict[str, InstanceRecord], hostname_safe: bool) -> list[Step]:
    """Two live instances carrying one name the template gave: every one but the oldest is suffixed."""
    by_name: dict[str, list[Step]] = defaultdict(list)
    for step in steps:
        if step.action is Action.OK and step.current:
            by_name[step.current].append(step)
    renamed: dict[str, Step] = {}
    for holders in by_name.values():
        if len(holders) < 2:
            continue
        holders.sort(key=lambda s: (_launched(described.get(s.instance_id)), s.instance_id))
        for younger in holders[1:]:
            try:
                wanted = with_suffix(younger.current or "", younger.instance_id, hostname_safe)
            except PermanentNamingFailure as failure:
                renamed[younger.instance_id] = replace(younger, action=Action.FAIL, reason=str(failure))
                continue
            renamed[younger.instance_id] = replace(younger, action=Action.DEDUPLICATE, wanted=wanted)
    return [renamed.get(step.instance_id, step) for step in steps]


def _launched(record: InstanceRecord | None) -> datetime:
    return record.launch_time if record is not None and record.launch_time else datetime.max.replace(tzinfo=UTC)
