"""Launch lifecycle hooks for the embedded local AWS: what moto 5.2.5 leaves out.

moto stores lifecycle hooks but drops their target, role and metadata, never sends a notification,
never holds an instance in ``Pending:Wait`` and does not implement CompleteLifecycleAction or
RecordLifecycleActionHeartbeat. :class:`LifecycleEngine` adds that behaviour, as the Amazon EC2 Auto
Scaling User Guide ("Amazon EC2 Auto Scaling lifecycle hooks") and API Reference document it:

* hooks keep NotificationTargetARN, RoleARN, NotificationMetadata, HeartbeatTimeout (30..7200,
  default 3600), DefaultResult (default ABANDON) and report GlobalTimeout = min(172800, 100 x heartbeat)
  (the settings and their validation: ``sandbox.lifecycle_hooks``);
* a hook put with a target sends ``autoscaling:TEST_NOTIFICATION`` to it;
* every launch into a group with launch hooks waits in ``Pending:Wait`` and each hook with a target gets
  the documented lifecycle message (flat JSON, straight to SQS: ``sandbox.lifecycle_notifications``);
* CompleteLifecycleAction (CONTINUE / ABANDON), RecordLifecycleActionHeartbeat, and a timer thread that
  applies the hook's DefaultResult at the heartbeat (or global) timeout; ABANDON terminates the
  instance and the group launches a replacement, which gets its own hold and messages;
* an ordered journal of every lifecycle transition, with every tag the instance had at that moment
  (terminations by scale-in, TerminateInstanceInAutoScalingGroup and EC2 TerminateInstances included);
* a scaling activity per launch and per termination, as DescribeScalingActivities reports them
  (``sandbox.scaling_activities``).

SNS topics are NOT emulated as targets (a hook naming one is rejected like an unreachable target), and
neither are EventBridge deliveries, warm pools or the behaviour of ``autoscaling:EC2_INSTANCE_TERMINATING``
hooks (they are stored and described, but scale-in terminates at once).

The engine is one file although it is longer than most: hooks, open actions, their timer and the
journal are one state machine under one lock (completing an action, a timeout, deleting a hook and
terminating an instance each change all of them at once).

Threading: moto is not safe for concurrent mutation, so every method that changes moto state must be
called with the sandbox's lock held (request handlers already are; the timer thread takes it). The
engine's own lock only guards its bookkeeping, so the query helpers can be called from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import LifecycleHook, autoscaling_backends
from moto.ec2.models import ec2_backends

from sandbox.lifecycle_hooks import (
    LAUNCHING,
    RESULTS,
    global_timeout,
    group_not_found,
    hook_key,
    missing_member,
    new_hook,
    publish_failure,
    required_names,
    validated_settings,
)
from sandbox.lifecycle_notifications import (
    SentNotification,
    build_launch_message,
    build_test_notification,
    deliver,
    is_emulated_target,
)
from sandbox.scaling_activities import (
    ABANDON_RESULT,
    HEARTBEAT_TIMEOUT,
    HOOK_DELETED,
    ActivityLog,
    GroupRef,
    abandoned_cause,
    health_check_cause,
    launch_cause,
    scale_in_cause,
    user_request_cause,
)

if TYPE_CHECKING:
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup, InstanceState

    from sandbox.clock import SandboxClock

logger = logging.getLogger(__name__)

# Lifecycle states as DescribeAutoScalingInstances reports them (plus the two ends the journal needs).
PENDING = "Pending"
PENDING_WAIT = "Pending:Wait"
IN_SERVICE = "InService"
TERMINATED = "Terminated"
DETACHED = "Detached"


@dataclass(frozen=True)
class LifecycleEvent:
    """One lifecycle transition of one instance, in the order the sandbox made them."""

    time: float  # sandbox epoch seconds
    instance_id: str
    asg: str
    from_state: str
    to_state: str
    # "launch", "CONTINUE", "ABANDON", "timeout:CONTINUE", "timeout:ABANDON", "hook-deleted:ABANDON", "scale-in",
    # "terminate-in-group" (TerminateInstanceInAutoScalingGroup), "external" (EC2 TerminateInstances, a detach)
    cause: str
    tags: Mapping[str, str] = field(hash=False)  # every tag of the instance at that moment (read-only)
    hook: str | None = None  # the hook whose completion or timeout caused it, if any


@dataclass(frozen=True)
class PendingAction:
    """An open lifecycle action (a copy: changing it changes nothing)."""

    token: str
    instance_id: str
    asg: str
    hook: str
    account_id: str
    region: str
    started_at: float
    deadline: float  # heartbeat deadline, never after global_deadline
    global_deadline: float
    heartbeat_timeout: int
    default_result: str
    heartbeats: int


@dataclass
class _Action:
    token: str
    instance_id: str
    asg: str
    hook: str
    account_id: str
    region: str
    started_at: float
    deadline: float
    global_deadline: float
    heartbeat_timeout: int
    default_result: str
    heartbeats: int = 0

    def snapshot(self) -> PendingAction:
        return PendingAction(**self.__dict__)


class LifecycleEngine:
    """Lifecycle hooks, open lifecycle actions, their timers and the transition journal of one sandbox."""

    def __init__(self, clock: SandboxClock, lock: threading.RLock, poll_interval: float = 0.05) -> None:
        self.clock = clock
        self.poll_interval = poll_interval
        self._sandbox_lock = lock
        self._lock = threading.RLock()
        self._actions: dict[str, _Action] = {}
        self._events: list[LifecycleEvent] = []
        self._sent: list[SentNotification] = []
        self._pending_tests: dict[tuple[str, str, str], list[LifecycleHook]] = {}
        self.activities = ActivityLog()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ timer thread
    def start(self) -> None:
        """Starts the timer thread that applies DefaultResult when an action times out."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name="sandbox-lifecycle-timer", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.poll_interval):
            try:
                self.tick()
            except Exception:  # the timer must outlive one bad tick; the journal shows what happened
                logger.exception("lifecycle timer tick failed")

    def tick(self) -> int:
        """Closes actions whose instance left the group and applies DefaultResult to overdue ones.

        Takes the sandbox lock itself; returns how many actions timed out.
        """
        with self._lock:
            if not self._actions:
                return 0
        with self._sandbox_lock, self._lock:
            return self._expire_due()

    # ------------------------------------------------------------------ queries (any thread)
    def events(self, instance_id: str | None = None, asg: str | None = None) -> list[LifecycleEvent]:
        """The transition journal, oldest first, optionally for one instance or group."""
        with self._lock:
            return [
                e
                for e in self._events
                if (instance_id is None or e.instance_id == instance_id) and (asg is None or e.asg == asg)
            ]

    def pending_actions(self, asg: str | None = None, instance_id: str | None = None) -> list[PendingAction]:
        """Lifecycle actions still open (waiting for completion, a heartbeat or their timeout)."""
        with self._lock:
            return [
                a.snapshot()
                for a in sorted(self._actions.values(), key=lambda a: a.started_at)
                if (asg is None or a.asg == asg) and (instance_id is None or a.instance_id == instance_id)
            ]

    def notifications(self, asg: str | None = None) -> list[SentNotification]:
        """Every notification sent (test and launch), oldest first."""
        with self._lock:
            return [n for n in self._sent if asg is None or n.asg == asg]

    def clear_journal(self) -> None:
        """Forgets recorded events and notifications (open actions stay open)."""
        with self._lock:
            self._events.clear()
            self._sent.clear()

    # ------------------------------------------------------------------ hooks
    def put_lifecycle_hook(
        self,
        backend: AutoScalingBackend,
        *,
        group_name: str | None,
        hook_name: str | None,
        transition: str | None = None,
        role_arn: str | None = None,
        target_arn: str | None = None,
        metadata: str | None = None,
        heartbeat_timeout: int | None = None,
        default_result: str | None = None,
    ) -> LifecycleHook:
        """PutLifecycleHook: creates or updates (keeping unspecified fields) and sends the test message."""
        if not hook_name:
            raise missing_member("lifecycleHookName")
        if not group_name:
            raise missing_member("autoScalingGroupName")
        group = backend.autoscaling_groups.get(group_name)
        if group is None:
            raise group_not_found(group_name)
        key = hook_key(group_name, hook_name)
        existing = backend.lifecycle_hooks.get(key)
        settings = validated_settings(
            existing,
            transition=transition,
            role_arn=role_arn,
            target_arn=target_arn,
            metadata=metadata,
            heartbeat_timeout=heartbeat_timeout,
            default_result=default_result,
        )
        if target_arn:
            self._check_target(backend, target_arn, settings["role_arn"])
        if existing is None:
            hook = new_hook(hook_name, group_name, settings)
        else:
            hook = existing
            hook.__dict__.update(settings)
        backend.lifecycle_hooks[key] = hook
        if target_arn:
            self._send_test_notification(group, hook)
        return hook

    @contextlib.contextmanager
    def creating_group(
        self, backend: AutoScalingBackend, group_name: str | None, specs: list[dict[str, Any]] | None
    ) -> Iterator[None]:
        """Wraps CreateAutoScalingGroup: its LifecycleHookSpecificationList exists before the first launch.

        The hooks are removed again if the group is not created.
        """
        if not specs or not group_name:
            yield
            return
        hooks: list[LifecycleHook] = []
        for spec in specs:
            name = spec.get("LifecycleHookName")
            if not name:
                raise missing_member("lifecycleHookSpecificationList.member.lifecycleHookName")
            if not spec.get("LifecycleTransition"):
                raise missing_member("lifecycleHookSpecificationList.member.lifecycleTransition")
            timeout = spec.get("HeartbeatTimeout")
            settings = validated_settings(
                None,
                transition=spec.get("LifecycleTransition"),
                role_arn=spec.get("RoleARN"),
                target_arn=spec.get("NotificationTargetARN"),
                metadata=spec.get("NotificationMetadata"),
                heartbeat_timeout=int(timeout) if timeout is not None else None,
                default_result=spec.get("DefaultResult"),
            )
            if settings["notification_target_arn"]:
                self._check_target(backend, settings["notification_target_arn"], settings["role_arn"])
            hooks.append(new_hook(name, group_name, settings))
        previous = {
            hook_key(group_name, h.name): backend.lifecycle_hooks.get(hook_key(group_name, h.name)) for h in hooks
        }
        for hook in hooks:
            backend.lifecycle_hooks[hook_key(group_name, hook.name)] = hook
        pending_key = (backend.account_id, backend.region_name, group_name)
        with self._lock:
            self._pending_tests[pending_key] = [h for h in hooks if h.notification_target_arn]
        try:
            yield
        except BaseException:
            with self._lock:
                self._pending_tests.pop(pending_key, None)
            for key, old in previous.items():
                if old is None:
                    backend.lifecycle_hooks.pop(key, None)
                else:
                    backend.lifecycle_hooks[key] = old
            raise
        group = backend.autoscaling_groups.get(group_name)
        if group is not None:
            self._flush_test_notifications(group)

    def on_hook_deleted(self, backend: AutoScalingBackend, group_name: str, hook_name: str) -> None:
        """DeleteLifecycleHook completes the hook's outstanding launch actions with ABANDON (as AWS does)."""
        with self._lock:
            self._prune()
            doomed = [
                a
                for a in self._actions.values()
                if (a.account_id, a.region, a.asg, a.hook)
                == (backend.account_id, backend.region_name, group_name, hook_name)
            ]
            for action in doomed:
                if action.token in self._actions:
                    self._finish(action, "ABANDON", "hook-deleted:ABANDON")

    def on_group_deleted(self, backend: AutoScalingBackend, group_name: str) -> None:
        """DeleteAutoScalingGroup deletes the group's hooks too (moto keeps them)."""
        for key in [k for k, h in backend.lifecycle_hooks.items() if h.auto_scaling_group_name == group_name]:
            backend.lifecycle_hooks.pop(key, None)
        with self._lock:
            self._prune()

    def launch_hooks(self, backend: AutoScalingBackend, group_name: str) -> list[LifecycleHook]:
        return [
            h
            for h in backend.lifecycle_hooks.values()
            if h.auto_scaling_group_name == group_name and h.lifecycle_transition == LAUNCHING
        ]

    # ------------------------------------------------------------------ launches
    def on_instances_launched(self, group: FakeAutoScalingGroup, states: list[InstanceState]) -> None:
        """Called for every batch moto launches into a group: holds them if the group has launch hooks."""
        backend = group.autoscaling_backend
        with self._lock:
            self._flush_test_notifications(group)
            hooks = self.launch_hooks(backend, group.name)
            now = self.clock.now()
            after = len(group.active_instances())
            cause = launch_cause(now, after - len(states), after)
            for state in states:
                instance_id = state.instance.id
                self.activities.launch(_group_ref(group), instance_id, _placement(state), cause, now)
                if not hooks:
                    self._record(now, group, instance_id, PENDING, IN_SERVICE, "launch")
                    self.activities.launch_succeeded(instance_id, now)
                    continue
                state.lifecycle_state = PENDING_WAIT
                self._record(now, group, instance_id, PENDING, PENDING_WAIT, "launch")
                request_id = str(uuid.uuid4())
                for hook in hooks:
                    action = _Action(
                        token=str(uuid.uuid4()),
                        instance_id=instance_id,
                        asg=group.name,
                        hook=hook.name,
                        account_id=backend.account_id,
                        region=backend.region_name,
                        started_at=now,
                        deadline=now + hook.heartbeat_timeout,
                        global_deadline=now + global_timeout(hook.heartbeat_timeout),
                        heartbeat_timeout=hook.heartbeat_timeout,
                        default_result=hook.default_result,
                    )
                    self._actions[action.token] = action
                    target = getattr(hook, "notification_target_arn", None)
                    if target:
                        body = build_launch_message(group, hook, instance_id, action.token, request_id, now)
                        self._deliver(now, "launch", target, group.name, instance_id, body)

    def on_instances_removed(
        self, group: FakeAutoScalingGroup, states: list[InstanceState], cause: str, *, decrement: bool = False
    ) -> None:
        """Called as Auto Scaling takes instances out of a group to terminate them: by scale-in (``scale-in``,
        after moto removed them), TerminateInstanceInAutoScalingGroup (``terminate-in-group``) or EC2
        TerminateInstances (``external``), the last two before moto removes them. Records the transition and
        the termination activity and closes the instances' open lifecycle actions."""
        if not states:
            return
        with self._lock:
            now = self.clock.now()
            active = len(group.active_instances())
            before, after = (active + len(states), active) if cause == "scale-in" else (active, active - len(states))
            for state in states:
                instance_id = state.instance.id
                for action in [a for a in self._actions.values() if a.instance_id == instance_id]:
                    self._actions.pop(action.token, None)
                self._record(now, group, instance_id, state.lifecycle_state, TERMINATED, cause)
                if state.lifecycle_state == PENDING_WAIT:
                    self.activities.launch_cancelled(instance_id, now)
                if cause == "scale-in":
                    text = scale_in_cause(now, before, after, instance_id)
                elif cause == "terminate-in-group":
                    text = user_request_cause(now, instance_id, (before, after) if decrement else None)
                else:
                    text = health_check_cause(now)
                self.activities.terminated(_group_ref(group), instance_id, _placement(state), text, now)

    # ------------------------------------------------------------------ actions
    def complete_lifecycle_action(
        self,
        backend: AutoScalingBackend,
        *,
        group_name: str | None,
        hook_name: str | None,
        result: str | None,
        token: str | None = None,
        instance_id: str | None = None,
    ) -> None:
        """CompleteLifecycleAction: CONTINUE lets the instance in once all its hooks are done; ABANDON ends it."""
        group_name, hook_name = required_names(group_name, hook_name)
        if not result:
            raise missing_member("lifecycleActionResult")
        if result not in RESULTS:
            raise ValidationError(f"Invalid LifecycleActionResult '{result}'; valid values are CONTINUE and ABANDON")
        with self._lock:
            action = self._find_action(backend, group_name, hook_name, token, instance_id)
            self._finish(action, result, result)

    def record_lifecycle_action_heartbeat(
        self,
        backend: AutoScalingBackend,
        *,
        group_name: str | None,
        hook_name: str | None,
        token: str | None = None,
        instance_id: str | None = None,
    ) -> PendingAction:
        """RecordLifecycleActionHeartbeat: restarts the heartbeat timer, never past the global timeout."""
        group_name, hook_name = required_names(group_name, hook_name)
        with self._lock:
            action = self._find_action(backend, group_name, hook_name, token, instance_id)
            action.deadline = min(self.clock.now() + action.heartbeat_timeout, action.global_deadline)
            action.heartbeats += 1
            return action.snapshot()

    # ------------------------------------------------------------------ internals (engine lock held)
    def _find_action(
        self,
        backend: AutoScalingBackend,
        group_name: str,
        hook_name: str,
        token: str | None,
        instance_id: str | None,
    ) -> _Action:
        if not token and not instance_id:
            raise ValidationError("Either LifecycleActionToken or InstanceId must be specified")
        self._expire_due()  # an overdue action is timed out first, even if the timer has not run yet
        if group_name not in backend.autoscaling_groups:
            raise group_not_found(group_name)
        if hook_key(group_name, hook_name) not in backend.lifecycle_hooks:
            raise ValidationError(f"LifecycleHook '{hook_name}' not found for AutoScalingGroup '{group_name}'")
        where = (backend.account_id, backend.region_name, group_name, hook_name)
        if token:
            action = self._actions.get(token)
            if (
                action is None
                or (action.account_id, action.region, action.asg, action.hook) != where
                or (instance_id and action.instance_id != instance_id)
            ):
                raise ValidationError(f"No active Lifecycle Action found with token {token}")
            return action
        for action in self._actions.values():
            if (action.account_id, action.region, action.asg, action.hook) == where and (
                action.instance_id == instance_id
            ):
                return action
        raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")

    def _expire_due(self) -> int:
        self._prune()
        now = self.clock.now()
        due = sorted((a for a in self._actions.values() if a.deadline <= now), key=lambda a: a.deadline)
        expired = 0
        for action in due:
            if action.token in self._actions:
                self._finish(action, action.default_result, f"timeout:{action.default_result}")
                expired += 1
        return expired

    def _locate(self, action: _Action) -> tuple[FakeAutoScalingGroup | None, InstanceState | None]:
        backend = autoscaling_backends[action.account_id][action.region]
        group = backend.autoscaling_groups.get(action.asg)
        if group is None:
            return None, None
        state = next((s for s in group.instance_states if s.instance.id == action.instance_id), None)
        return group, state

    def _prune(self) -> None:
        """Closes actions whose instance is no longer waiting in its group (terminated, detached, deleted).

        Runs before every completion and heartbeat, so each group's instances are indexed once per call:
        looking each action up in its group's list cost O(open actions x group size), 37 ms a call with
        1000 launches waiting, under the lock every request takes.
        """
        closed: set[str] = set()
        groups: dict[tuple[str, str, str], tuple[FakeAutoScalingGroup | None, dict[str, InstanceState]]] = {}
        for action in list(self._actions.values()):
            if action.instance_id in closed:
                self._actions.pop(action.token, None)
                continue
            where = (action.account_id, action.region, action.asg)
            if where not in groups:
                group = autoscaling_backends[action.account_id][action.region].autoscaling_groups.get(action.asg)
                states = {} if group is None else {s.instance.id: s for s in group.instance_states}
                groups[where] = group, states
            group, states = groups[where]
            state = states.get(action.instance_id)
            if state is not None and state.lifecycle_state == PENDING_WAIT:
                continue
            closed.add(action.instance_id)
            for other in [a for a in self._actions.values() if a.instance_id == action.instance_id]:
                self._actions.pop(other.token, None)
            if state is not None:
                to_state = state.lifecycle_state
            else:
                to_state = DETACHED
                with contextlib.suppress(Exception):
                    instance = ec2_backends[action.account_id][action.region].get_instance(action.instance_id)
                    if instance.state in ("shutting-down", "terminated"):
                        to_state = TERMINATED
            now = self.clock.now()
            if to_state == IN_SERVICE:
                self.activities.launch_succeeded(action.instance_id, now)
            elif to_state in (DETACHED, TERMINATED):
                self.activities.launch_cancelled(action.instance_id, now)
            if to_state == TERMINATED and group is not None:
                self.activities.terminated(_group_ref(group), action.instance_id, {}, health_check_cause(now), now)
            self._events.append(
                LifecycleEvent(
                    time=now,
                    instance_id=action.instance_id,
                    asg=action.asg,
                    from_state=PENDING_WAIT,
                    to_state=to_state,
                    cause="external",
                    tags=self._tags(action.account_id, action.region, action.instance_id),
                )
            )

    def _finish(self, action: _Action, result: str, cause: str) -> None:
        self._actions.pop(action.token, None)
        group, state = self._locate(action)
        if group is None or state is None:
            return
        siblings = [a for a in self._actions.values() if a.instance_id == action.instance_id]
        now = self.clock.now()
        if result == "CONTINUE":
            if siblings:
                return  # another launch hook of this instance is still open
            state.lifecycle_state = IN_SERVICE
            self._record(now, group, action.instance_id, PENDING_WAIT, IN_SERVICE, cause, action.hook)
            self.activities.launch_succeeded(action.instance_id, now)
            return
        for sibling in siblings:
            self._actions.pop(sibling.token, None)
        self._record(now, group, action.instance_id, PENDING_WAIT, TERMINATED, cause, action.hook)
        self.activities.launch_cancelled(action.instance_id, now, abandoned=(action.token, _ABANDONED_BECAUSE[cause]))
        self.activities.terminated(
            _group_ref(group), action.instance_id, _placement(state), abandoned_cause(now, action.instance_id), now
        )
        group.instance_states = [s for s in group.instance_states if s is not state]
        try:
            group.ec2_backend.terminate_instances([action.instance_id])
        except Exception:  # e.g. termination protection; the instance has left the group all the same
            logger.exception("could not terminate abandoned instance %s", action.instance_id)
        if group.autoscaling_backend.autoscaling_groups.get(group.name) is group:
            group.set_desired_capacity(group.desired_capacity)  # launches the replacement

    def _record(
        self,
        now: float,
        group: FakeAutoScalingGroup,
        instance_id: str,
        from_state: str,
        to_state: str,
        cause: str,
        hook: str | None = None,
    ) -> None:
        self._events.append(
            LifecycleEvent(
                time=now,
                instance_id=instance_id,
                asg=group.name,
                from_state=from_state,
                to_state=to_state,
                cause=cause,
                tags=self._tags(group.account_id, group.region, instance_id),
                hook=hook,
            )
        )

    @staticmethod
    def _tags(account_id: str, region: str, instance_id: str) -> Mapping[str, str]:
        """A read-only copy of every tag the instance has now."""
        return MappingProxyType(dict(ec2_backends[account_id][region].tags.get(instance_id) or {}))

    def _check_target(self, backend: AutoScalingBackend, target_arn: str, role_arn: str | None) -> None:
        """Only standard SQS queues of the group's account and Region are emulated targets (no SNS)."""
        if not is_emulated_target(target_arn, backend.account_id, backend.region_name):
            raise publish_failure(target_arn, role_arn)

    def _send_test_notification(self, group: FakeAutoScalingGroup, hook: LifecycleHook) -> None:
        now = self.clock.now()
        body = build_test_notification(group, str(uuid.uuid4()), now)
        with self._lock:
            self._deliver(now, "test", hook.notification_target_arn, group.name, None, body)

    def _flush_test_notifications(self, group: FakeAutoScalingGroup) -> None:
        with self._lock:
            hooks = self._pending_tests.pop((group.account_id, group.region, group.name), [])
        for hook in hooks:
            self._send_test_notification(group, hook)

    def _deliver(
        self, now: float, kind: str, target_arn: str, asg: str, instance_id: str | None, body: dict[str, Any]
    ) -> None:
        self._sent.append(deliver(now, kind, target_arn, asg, instance_id, body))


# Why an abandoned launch was abandoned, in the StatusMessage of its scaling activity.
_ABANDONED_BECAUSE = {
    "ABANDON": ABANDON_RESULT,
    "timeout:ABANDON": HEARTBEAT_TIMEOUT,
    "hook-deleted:ABANDON": HOOK_DELETED,
}


def _group_ref(group: FakeAutoScalingGroup) -> GroupRef:
    return GroupRef(group.account_id, group.region, group.name, group.arn)


def _placement(state: InstanceState) -> dict[str, str]:
    """The Details of an instance's activities: where it was placed."""
    instance = state.instance
    details = {"Subnet ID": str(getattr(instance, "subnet_id", "") or ""), "Availability Zone": state.availability_zone}
    return {key: value for key, value in details.items() if value}
