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
from handler.fleet import ActionNotActive, Fleet, GroupRecord, InstanceRecord, TransientAwsError
from handler.hooks import HookDirectory
from handler.name_writer import NameWriter, with_suffix
from handler.naming import SLOT_IN_POOL, InvalidName, MissingIp, MissingTag, NeedsSlot, TemplateError, resolve_template
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

    def count(self, action: Action) -> int:
        return sum(1 for step in self.steps if step.action is action)

    @property
    def writes(self) -> int:
        """Names to write: a plan with none writes nothing (a reason tag or a release at most)."""
        return sum(1 for step in self.steps if step.action in NAMING_ACTIONS)


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
        plan = self.plan()
        summary = self.apply(plan, deadline)
        logger.info("sweep finished", extra={"summary": summary.to_json()})
        return summary

    # ------------------------------------------------------------------ plan (reads only)
    def plan(self, groups: Sequence[str] = (), fix_drift: bool | None = None) -> SweepPlan:
        """Reads the fleet and decides each served instance's step. ``groups``: exactly these (the CLI's
        --asg); else the groups this deployment serves."""
        fix = self._settings.sweep_fix_drift if fix_drift is None else fix_drift
        served = self._served_groups(groups)
        members: list[tuple[str, str, str]] = []  # (instance, group, lifecycle state)
        for group in served:
            states = list(group.instances)
            if group.has_warm_pool:
                states += self._fleet.warm_pool_instances(group.name)
            members += [(i, group.name, state) for i, state in states if not state.startswith(_LEFT_STATES)]
        described = self._fleet.describe(i for i, _, _ in members) if members else {}
        steps = [self._step(i, group, state, described.get(i), fix) for i, group, state in members]
        steps = _deduplicate(steps, described, self._settings.hostname_safe)
        return SweepPlan([g.name for g in served], steps, described)

    def _served_groups(self, names: Sequence[str]) -> list[GroupRecord]:
        if names:
            return self._fleet.groups(names)
        wanted = set(self._settings.sweep_groups)
        queue = self._settings.queue_arn
        if not queue and not wanted:
            logger.warning("sweep has nothing to serve: set QUEUE_ARN (the stack does) or SWEEP_GROUPS")
            return []
        served = []
        for group in self._fleet.groups():
            ours = queue is not None and any(hook.target_arn == queue for hook in self._hooks.hooks(group.name))
            if group.name in wanted or ours:
                served.append(group)
        return served

    def _step(self, instance_id: str, group: str, state: str, record: InstanceRecord | None, fix: bool) -> Step:
        if record is None or record.is_gone:
            return Step(instance_id, group, state, None, Action.WAIT, reason="EC2 does not see it (yet)")
        current = record.tags.get(self._settings.name_tag_key) or None
        hook = self._hooks.served_hook(group, self._settings.queue_arn)
        release = hook.name if hook is not None and self._stuck(record, state) else None
        try:
            template = resolve_template(hook.metadata if hook else None, self._settings.name_template).template
        except TemplateError as error:
            reason = f"the hook's template: {error}"
            return Step(instance_id, group, state, current, Action.FAIL, None, reason, release)
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

    def _stuck(self, record: InstanceRecord, state: str) -> bool:
        if state != PENDING_WAIT or record.launch_time is None:
            return False
        waited = (self._clock() - record.launch_time).total_seconds()
        return waited > self._settings.sweep_stuck_after_seconds

    # ------------------------------------------------------------------ apply (writes)
    def apply(
        self, plan: SweepPlan, deadline: float, progress: Callable[[Step, str], None] = lambda step, note: None
    ) -> SweepSummary:
        """Writes what the plan says, one instance at a time, stopping before ``deadline`` (monotonic)."""
        summary = SweepSummary(groups=len(plan.groups), instances=len(plan.steps))
        writer = NameWriter(self._settings, self._fleet, self._metrics)
        writer.known_alive(plan.instances)
        writer.prefetch(step.wanted for step in plan.steps if step.action in NAMING_ACTIONS and step.wanted)
        for step in plan.steps:
            if time.monotonic() >= deadline:
                summary.stopped_early = True
                logger.warning("sweep stopped before its deadline; the next sweep goes on")
                break
            with logger.append_context_keys(instance_id=step.instance_id, asg=step.group, hook=step.release_hook):
                try:
                    note = self._apply(step, plan.instances.get(step.instance_id), writer, summary)
                except (TransientAwsError, NotReady) as error:
                    summary.errors += 1
                    note = f"left for the next sweep: {error}"
                    logger.warning("sweep could not finish an instance; the next sweep retries", extra={"error": note})
            progress(step, note)
        count(self._metrics, Metric.SWEEP_INSTANCES_NAMED, summary.named)
        count(self._metrics, Metric.SWEEP_ACTIONS_RELEASED, summary.released)
        count(self._metrics, Metric.NAME_DRIFT, summary.drift)
        return summary

    def _apply(self, step: Step, record: InstanceRecord | None, writer: NameWriter, summary: SweepSummary) -> str:
        if step.action is Action.WAIT:
            summary.waiting += 1
            return "not yet"
        if record is None:
            return "gone"
        if step.action in (Action.DRIFT, Action.RENAME):
            summary.drift += 1
            summary.drifted.append({"instance": step.instance_id, "group": step.group, "name": step.current})
            if step.action is Action.DRIFT:
                logger.info("name differs from the template's; left as it is", extra={"instance_name": step.current})
                return "drift, left"
        named = False
        reason = step.reason
        if step.action in NAMING_ACTIONS:
            try:
                named = self._write_name(step, record, writer)
            except PermanentNamingFailure as failure:
                reason = str(failure)
        elif step.action is Action.OK:
            named = True
        if reason is not None:
            summary.failed += 1
            if record.tags.get(FAILURE_TAG_KEY) != reason_tag_value(reason):
                self._policy.mark(step.instance_id, reason)
        if named and step.action in NAMING_ACTIONS:
            summary.named += 1
        if step.release_hook is not None:
            result = "CONTINUE" if named else self._policy.result(step.group)
            if self._release(step, result):
                summary.released += 1
                return f"{'named and ' if named else ''}released ({result})"
        return "named" if named and step.action in NAMING_ACTIONS else (reason or "ok")

    def _write_name(self, step: Step, record: InstanceRecord, writer: NameWriter) -> bool:
        if step.action is Action.DEDUPLICATE:
            name = str(step.wanted)
        else:
            assert step.wanted is not None
            name = writer.final_name(record, step.wanted)
        written = writer.write(record, name)
        if written:
            logger.info("sweep named instance", extra={"instance_name": name, "action": step.action.value})
        return True

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
