"""Scenario runner of the fault suite.

One run builds a few Auto Scaling groups in the embedded local AWS, each with its own queue, DLQ and
SQS trigger running the real handler (``handler.app``, one cold start per execution environment), scales
them out while the faults of :data:`FAULTS` are injected, waits until everything is quiescent and then
checks the invariants of :data:`INVARIANTS` from what the sandbox recorded (lifecycle journal, call
journal, queues) and what the function logged. Everything random is drawn from ``ChaosConfig.seed``.

Groups of a run:

* ``tagged-<n>``: the team's five tags; every instance must end InService with its convention name.
  The first one also receives the poison messages; the last one gets the broken deploy (its trigger
  first runs with ``FAILURE_RESULT=MAYBE``) and the invocation killed mid-batch.
* ``untagged``: instances lack the ``Group`` tag; the handler must ABANDON each with a logged reason.
  ABANDON makes the group launch a replacement (which is abandoned too), so once the first generation is
  abandoned the runner scales the group to 0; replacements still waiting then are scaled in.
* ``short-hb``: a hook with a 30 s heartbeat timeout on a fast sandbox clock. Some instances never get a
  private IP (the handler waits), others are terminated through EC2 while in Pending:Wait; all of them
  must end by the hook's DefaultResult (ABANDON) and their replacements, launched with a long heartbeat
  timeout, must be named.
"""

from __future__ import annotations

import inspect
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.config import Config

from handler.naming import DEFAULT_TEMPLATE, InstanceFacts, compile_template
from sandbox import Sandbox
from sandbox.faults import ErrorKind
from sandbox.lambda_runtime import FunctionLogs, capture_function_output, environment, environment_factory
from sandbox.scenario import TEAM_TAGS, World, build_world
from sandbox.trigger import Outcome, SqsTrigger

# Seconds on the real clock; sandbox-clock seconds are these times the clock scale.
LONG_HEARTBEAT = 7200  # the longest HeartbeatTimeout AWS allows
SHORT_HEARTBEAT = 30  # the shortest
ABANDON_REASON_MESSAGE = "cannot name instance; completing with the failure result"


@dataclass(frozen=True)
class Fault:
    name: str
    description: str


FAULTS: tuple[Fault, ...] = (
    Fault("throttling", "EC2 and Auto Scaling token buckets at the documented rates (set_throttling defaults)"),
    Fault("errors", "random HTTP 500/503 answers on EC2, Auto Scaling and SQS (inject_error with a probability)"),
    Fault("resets", "random TCP connection resets on EC2 and Auto Scaling calls"),
    Fault("latency", "latency with jitter and random spikes on every call (set_latency)"),
    Fault("late_ips", "half the instances get their private IP seconds after launch (set_private_ip_delay)"),
    Fault("eventual_consistency", "half the instances are InvalidInstanceID.NotFound right after launch"),
    Fault("terminated_while_waiting", "short-hb instances terminated through EC2 while in Pending:Wait"),
    Fault("duplicates", "copies of real hook messages sent to the queues (at-least-once delivery)"),
    Fault("killed_invocation", "CompleteLifecycleAction slower than the function timeout: the batch is killed"),
    Fault("poison", "malformed messages on a queue: they must end in its DLQ after maxReceiveCount"),
    Fault("heartbeat_timeout", "short-hb instances whose IP never appears: the hook's DefaultResult applies"),
    Fault("broken_deploy", "the function starts with FAILURE_RESULT=MAYBE (every init fails), then is fixed"),
)
FAULT_NAMES: tuple[str, ...] = tuple(f.name for f in FAULTS)

INVARIANTS: dict[str, str] = {
    "outcomes": "every launched instance ends InService with the correct Name, or terminated as expected "
    "(ABANDON with a logged reason, DefaultResult of an expired hook, scaled in), in the expected numbers",
    "named_before_service": "no instance entered InService before its Name tag was written",
    "messages": "every message was deleted after success or is in the DLQ; the DLQs hold exactly the poison",
    "no_pending_actions": "no lifecycle action is left pending at the end",
    "create_tags_bound": "CreateTags per instance is at most 1 + the redeliveries of its messages",
}

POISON_BODIES = (
    "this is not JSON",
    "{}",
    '{"LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"}',
    '{"LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING", "AutoScalingGroupName": "x", '
    '"LifecycleHookName": "h", "LifecycleActionToken": "t", "EC2InstanceId": "not-an-instance"}',
    '["a", "list"]',
    '{"Type": "Notification", "Message": "{not json"}',
)


@dataclass(frozen=True)
class ChaosConfig:
    seed: int = 7
    groups: int = 2  # fully tagged groups
    instances: int = 6  # per tagged group
    untagged_instances: int = 2
    never_ip_instances: int = 1  # short-hb instances whose IP never appears
    terminated_instances: int = 1  # short-hb instances terminated through EC2 while waiting
    poison: int = 3
    duplicates: int = 3
    faults: tuple[str, ...] = FAULT_NAMES
    clock_scale: float = 20.0
    error_probability: float = 0.03
    reset_probability: float = 0.02
    late_ip_seconds: float = 2.0  # real seconds
    consistency_seconds: float = 1.0  # real seconds
    visibility_timeout: int = 3
    function_timeout: float = 3.0
    timeout: float = 120.0  # real seconds to wait for quiescence

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULT_NAMES)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULT_NAMES)}")
        if self.groups < 1 or self.instances < 1:
            raise ValueError("need at least one tagged group with one instance")
        if self.function_timeout > self.visibility_timeout:
            raise ValueError("function_timeout must not exceed visibility_timeout")

    def on(self, fault: str) -> bool:
        return fault in self.faults


@dataclass
class GroupResult:
    name: str
    role: str
    launched: int = 0
    in_service_named: int = 0
    abandoned_with_reason: int = 0
    timed_out: int = 0
    removed: int = 0  # terminated by the runner: through EC2 while waiting, or scaled in
    other: int = 0


@dataclass
class InvariantResult:
    name: str
    description: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.violations.append(message)


@dataclass
class ChaosReport:
    config: ChaosConfig
    quiescent: bool
    duration_seconds: float
    groups: list[GroupResult]
    invariants: list[InvariantResult]
    injected: dict[str, Any]

    @property
    def violations(self) -> int:
        return sum(len(i.violations) for i in self.invariants)

    def to_json(self) -> dict[str, Any]:
        return {
            "violations": self.violations,
            "quiescent": self.quiescent,
            "duration_seconds": round(self.duration_seconds, 2),
            "config": asdict(self.config),
            "invariants": {
                i.name: {
                    "description": i.description,
                    "checked": i.checked,
                    "violations": len(i.violations),
                    "details": i.violations,
                }
                for i in self.invariants
            },
            "groups": [asdict(g) for g in self.groups],
            "faults_injected": self.injected,
        }

    def table(self) -> str:
        lines = [f"Chaos run: seed {self.config.seed}, faults: {', '.join(self.config.faults) or 'none'}", ""]
        lines.append("Faults injected")
        for name, value in self.injected.items():
            lines.append(f"  {name:<28} {value}")
        lines.append("")
        header = f"  {'group':<10} {'role':<40} {'launched':>8} {'named':>6} {'abandon':>8} {'timeout':>8}"
        lines.append("Instances and outcomes")
        lines.append(header + f" {'removed':>8} {'other':>6}")
        for g in self.groups:
            lines.append(
                f"  {g.name:<10} {g.role:<40} {g.launched:>8} {g.in_service_named:>6} {g.abandoned_with_reason:>8} "
                f"{g.timed_out:>8} {g.removed:>8} {g.other:>6}"
            )
        lines.append("")
        lines.append("Invariants")
        for inv in self.invariants:
            lines.append(f"  {inv.name:<22} checked {inv.checked:>5}  violations {len(inv.violations)}")
            lines.extend(f"      - {v}" for v in inv.violations[:10])
        lines.append("")
        state = "quiescent" if self.quiescent else "NOT quiescent (timed out waiting)"
        lines.append(f"Violations: {self.violations} ({state} after {self.duration_seconds:.1f} s)")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Function side: environment overrides, delivery accounting, the killed invocation
# ---------------------------------------------------------------------------------------------------

_ENV_LOCK = threading.Lock()


class Deliveries:
    """Records handed to the handler, by message id and by instance id (bodies parsed leniently)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_instance: Counter[str] = Counter()
        self.by_message: Counter[str] = Counter()

    def add(self, event: Mapping[str, Any]) -> None:
        for record in event.get("Records", []):
            instance_id = _instance_of(record.get("body", ""))
            with self._lock:
                self.by_message[record.get("messageId", "")] += 1
                if instance_id:
                    self.by_instance[instance_id] += 1


def _instance_of(body: str) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if isinstance(value, dict):
        found = value.get("EC2InstanceId")
        return found if isinstance(found, str) else None
    return None


@dataclass
class KillSwitch:
    """Makes the first ``calls`` CompleteLifecycleAction calls of the function wait ``delay`` seconds:
    longer than the function timeout, so the trigger kills that invocation mid-batch (other records of
    the batch may have finished; the killed one's message comes back after the visibility timeout)."""

    delay: float
    calls: int = 1
    slowed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self.lock:
            if self.slowed >= self.calls:
                return False
            self.slowed += 1
            return True


def _factory(
    env: Mapping[str, str], deliveries: Deliveries, kill: KillSwitch | None
) -> Callable[[], Callable[[dict[str, Any], Any], Any]]:
    cold_start = environment_factory()

    def factory() -> Callable[[dict[str, Any], Any], Any]:
        with _ENV_LOCK, environment(env):
            handler = cold_start()
        namer = getattr(inspect.unwrap(handler), "__globals__", {}).get("namer")
        if kill is not None and namer is not None:
            original = namer.fleet.complete

            def slow_complete(*args: Any, **kwargs: Any) -> None:
                if kill.take():
                    time.sleep(kill.delay)  # the trigger's deadline passes meanwhile: the batch is killed
                original(*args, **kwargs)

            namer.fleet.complete = slow_complete

        def invoke(event: dict[str, Any], context: Any) -> Any:
            deliveries.add(event)
            return handler(event, context)

        return invoke

    return factory


# ---------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Group:
    world: World
    role: str
    desired: int
    env: dict[str, str]
    deliveries: Deliveries = field(default_factory=Deliveries)
    triggers: list[SqsTrigger] = field(default_factory=list)
    kill: KillSwitch | None = None
    poison: list[str] = field(default_factory=list)
    initial: list[str] = field(default_factory=list)
    never_ip: set[str] = field(default_factory=set)
    terminated: set[str] = field(default_factory=set)
    broken: bool = False
    broken_done: bool = True
    scaled_in_at: float | None = None


class _Runner:
    def __init__(self, config: ChaosConfig, sandbox: Sandbox, out: Callable[[str], None]) -> None:
        self.config = config
        self.sandbox = sandbox
        self.say = out
        self.rng = random.Random(config.seed)
        self.logs = FunctionLogs()
        self.run_id = uuid.uuid4().hex[:6]
        boto = Config(retries={"mode": "standard", "max_attempts": 10}, max_pool_connections=20)
        self.aws = {name: sandbox.client(name, config=boto) for name in ("ec2", "sqs", "autoscaling")}
        self.groups: list[_Group] = []
        self.injected: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}
        self.first_seen_lock = threading.Lock()

    # -- setup ------------------------------------------------------------------------------------------
    def build(self) -> None:
        c = self.config
        base_env = {"TIME_MARGIN_SECONDS": "1"}  # the shipped retry policy; a margin sized for 3 s timeouts
        for index in range(c.groups):
            first, last = index == 0, index == c.groups - 1
            roles = ["tagged"]
            poison = first and c.on("poison") and c.poison > 0
            broken = last and c.on("broken_deploy")
            if poison:
                roles.append("poison")
            if broken:
                roles.append("broken deploy")
            if last and c.on("killed_invocation"):
                roles.append("killed invocation")
            world = self._world(f"tagged-{index + 1}", max_receive_count=4 if poison else (1000 if broken else 20))
            group = _Group(world, "+".join(roles), c.instances, dict(base_env), broken=broken, broken_done=not broken)
            if last and c.on("killed_invocation"):
                group.kill = KillSwitch(delay=c.function_timeout + 1.5)
            self.groups.append(group)
        if c.untagged_instances > 0:
            tags = {k: v for k, v in TEAM_TAGS.items() if k != "Group"}
            world = self._world("untagged", tags=tags)
            self.groups.append(_Group(world, "untagged -> ABANDON", c.untagged_instances, dict(base_env)))
        hb_faults = (c.never_ip_instances if c.on("heartbeat_timeout") else 0) + (
            c.terminated_instances if c.on("terminated_while_waiting") else 0
        )
        if hb_faults:
            world = self._world("short-hb", heartbeat_timeout=SHORT_HEARTBEAT)
            self.groups.append(_Group(world, "short heartbeat -> DefaultResult", hb_faults, dict(base_env)))

    def _world(self, label: str, **kwargs: Any) -> World:
        kwargs.setdefault("heartbeat_timeout", LONG_HEARTBEAT)
        kwargs.setdefault("max_receive_count", 20)
        return build_world(
            f"chaos-{self.run_id}-{label}",
            endpoint_url=self.sandbox.endpoint_url,
            visibility_timeout=self.config.visibility_timeout,
            default_result="ABANDON",
            **kwargs,
        )

    def scale_out(self) -> None:
        autoscaling = self.aws["autoscaling"]
        for group in self.groups:
            autoscaling.set_desired_capacity(AutoScalingGroupName=group.world.asg_name, DesiredCapacity=group.desired)
            group.initial = sorted(self._group_states(group))
        hb = self._group("short-hb")
        if hb is None:
            return
        ids = list(hb.initial)
        self.rng.shuffle(ids)
        never = self.config.never_ip_instances if self.config.on("heartbeat_timeout") else 0
        hb.never_ip = set(ids[:never])
        hb.terminated = set(ids[never:])
        # replacements get the long timeout: only the first generation's actions (already open) expire
        autoscaling.put_lifecycle_hook(
            LifecycleHookName=hb.world.hook_name,
            AutoScalingGroupName=hb.world.asg_name,
            HeartbeatTimeout=LONG_HEARTBEAT,
        )
        if hb.terminated:
            self.aws["ec2"].terminate_instances(InstanceIds=sorted(hb.terminated))
            self.injected["instances terminated via EC2"] += len(hb.terminated)

    def _group(self, label: str) -> _Group | None:
        return next((g for g in self.groups if g.world.asg_name.endswith(f"-{label}")), None)

    def _group_states(self, group: _Group) -> dict[str, str]:
        answer = self.aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[group.world.asg_name])
        return {i["InstanceId"]: i["LifecycleState"] for g in answer["AutoScalingGroups"] for i in g["Instances"]}

    # -- faults -----------------------------------------------------------------------------------------
    def _hidden_ip(self, instance_id: str) -> bool:
        if any(instance_id in g.never_ip for g in self.groups):
            return True
        if not self.config.on("late_ips") or not _coin(instance_id, "ip"):
            return False
        now = time.monotonic()
        with self.first_seen_lock:
            seen = self.first_seen.setdefault(instance_id, now)
        return now - seen < self.config.late_ip_seconds

    def faults_on(self) -> None:
        c, controls = self.config, self.sandbox.controls
        controls.reseed(c.seed)
        if c.on("throttling"):
            controls.set_throttling()
        if c.on("errors"):
            for service, kind in (("ec2", ErrorKind.HTTP500), ("autoscaling", ErrorKind.HTTP503)):
                controls.inject_error(service, "*", kind, probability=c.error_probability)
            controls.inject_error("sqs", "*", ErrorKind.HTTP500, probability=c.error_probability / 2)
        if c.on("resets"):
            for service in ("ec2", "autoscaling"):
                controls.inject_error(service, "*", ErrorKind.CONNECTION_RESET, probability=c.reset_probability)
        if c.on("latency"):
            controls.set_latency(base_ms=1, jitter_ms=4, spike_probability=0.03, spike_ms=300)
        # the IP delay also carries the heartbeat-timeout fault (IPs that never appear)
        controls.set_private_ip_delay(1e9, predicate=self._hidden_ip)
        if c.on("eventual_consistency"):
            controls.set_eventual_consistency(
                c.consistency_seconds * self.sandbox.clock.scale, predicate=lambda iid: _coin(iid, "ec")
            )

    def send_poison(self) -> None:
        group = self.groups[0]
        if "poison" not in group.role:
            return
        for index in range(self.config.poison):
            body = POISON_BODIES[index % len(POISON_BODIES)]
            if index >= len(POISON_BODIES):
                body = f"{body} #{index}"
            self.aws["sqs"].send_message(QueueUrl=group.world.queue_url, MessageBody=body)
            group.poison.append(body)
        self.injected["poison messages"] += len(group.poison)

    def send_duplicates(self) -> None:
        if not self.config.on("duplicates") or self.config.duplicates <= 0:
            return
        launches = [
            n
            for g in self.groups
            if g.role.startswith("tagged")
            for n in self.sandbox.lifecycle.notifications(asg=g.world.asg_name)
            if n.kind == "launch"
        ]
        chosen = self.rng.sample(launches, min(self.config.duplicates, len(launches)))
        queues = {g.world.asg_name: g.world.queue_url for g in self.groups}
        for notification in chosen:
            body = json.dumps(notification.body, separators=(",", ":"))
            self.aws["sqs"].send_message(QueueUrl=queues[notification.asg], MessageBody=body)
        self.injected["duplicate deliveries sent"] += len(chosen)

    # -- triggers ---------------------------------------------------------------------------------------
    def start_trigger(self, group: _Group, env: Mapping[str, str]) -> None:
        trigger = SqsTrigger(
            group.world.queue_url,
            handler_factory=_factory(env, group.deliveries, group.kill if not group.broken else None),
            batch_size=10,
            maximum_batching_window_in_seconds=0.2,
            maximum_concurrency=2,
            function_response_types=["ReportBatchItemFailures"],
            function_timeout=self.config.function_timeout,
            endpoint_url=self.sandbox.endpoint_url,
            idle_poll_interval=0.1,
        )
        group.triggers.append(trigger)
        trigger.start()

    def start_triggers(self) -> None:
        for group in self.groups:
            env = dict(group.env)
            if group.broken:
                env["FAILURE_RESULT"] = "MAYBE"
            self.start_trigger(group, env)

    def fix_broken_deploy(self, group: _Group) -> None:
        """Once every message of the broken group was delivered at least twice to failing inits."""
        trigger = group.triggers[-1]
        init_failures: Counter[str] = Counter()
        for record in trigger.stats().invocation_log:
            if record.outcome is Outcome.INIT_ERROR:
                init_failures.update(record.message_ids)
        expected = group.desired + 1  # launch messages and the hook's test notification
        if len(init_failures) < expected or min(init_failures.values()) < 2:
            return
        trigger.stop()
        self.injected["broken deploy: records retried"] = len(init_failures)
        self.injected["broken deploy: failed inits"] = trigger.stats().batch_failures[str(Outcome.INIT_ERROR)]
        group.broken = False
        self.start_trigger(group, group.env)
        group.broken_done = True

    # -- waiting ----------------------------------------------------------------------------------------
    def step(self) -> bool:
        """One look at the world: advances the scenario; True when everything is quiescent."""
        quiet = True
        for group in self.groups:
            if not group.broken_done:
                self.fix_broken_deploy(group)
                quiet = False
                continue
            if group.role.startswith("untagged"):
                quiet &= self._step_untagged(group)
                continue
            if self.sandbox.lifecycle.pending_actions(asg=group.world.asg_name):
                quiet = False
                continue
            states = self._group_states(group)
            if len(states) != group.desired or any(s != "InService" for s in states.values()):
                quiet = False
                continue
            if group.poison and self._dlq_count(group) < len(group.poison):
                quiet = False
                continue
            quiet &= group.triggers[-1].wait_until_idle(timeout=0)
        return quiet

    def _step_untagged(self, group: _Group) -> bool:
        if group.scaled_in_at is None:
            abandoned = {
                e.instance_id
                for e in self.sandbox.lifecycle.events(asg=group.world.asg_name)
                if e.cause == "ABANDON" and e.instance_id in group.initial
            }
            if len(abandoned) < len(group.initial):
                return False
            group.scaled_in_at = self.sandbox.clock.now()
            self.aws["autoscaling"].set_desired_capacity(AutoScalingGroupName=group.world.asg_name, DesiredCapacity=0)
            group.desired = 0
            return False
        if self.sandbox.lifecycle.pending_actions(asg=group.world.asg_name) or self._group_states(group):
            return False
        return group.triggers[-1].wait_until_idle(timeout=0)

    def _dlq_count(self, group: _Group) -> int:
        attributes = self.aws["sqs"].get_queue_attributes(
            QueueUrl=group.world.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def wait(self) -> bool:
        deadline = time.monotonic() + self.config.timeout
        duplicates_at = time.monotonic() + 1.0
        duplicates_sent = False
        while time.monotonic() < deadline:
            if not duplicates_sent and time.monotonic() >= duplicates_at:
                self.send_duplicates()
                duplicates_sent = True
            try:
                if duplicates_sent and self.step() and self.step():
                    return True
            except Exception as error:  # noqa: BLE001 - a faulted look is retried; the deadline bounds it
                self.say(f"  (look failed: {type(error).__name__}: {error})")
            time.sleep(0.3)
        return False

    def stop(self) -> None:
        """Stops the triggers, then waits for killed invocations' threads to return: they still write
        logs and EMF metrics, which must land in this run's log, not in whatever captures stdout next."""
        for group in self.groups:
            for trigger in group.triggers:
                trigger.stop(timeout=self.config.function_timeout + 5)
        deadline = time.monotonic() + 60
        triggers = [t for g in self.groups for t in g.triggers]
        while time.monotonic() < deadline and any(t.stats().late_threads_running for t in triggers):
            time.sleep(0.1)


def _coin(instance_id: str, salt: str) -> bool:
    """A stable, seed-free half of the instances (by id)."""
    return sum(ord(ch) for ch in f"{salt}:{instance_id}") % 2 == 0


# ---------------------------------------------------------------------------------------------------
# Invariants
# ---------------------------------------------------------------------------------------------------


class _Checker:
    def __init__(self, runner: _Runner) -> None:
        self.r = runner
        self.sandbox = runner.sandbox
        self.template = compile_template(DEFAULT_TEMPLATE)
        self.instances = self._describe_all()
        self.abandon_logged = {
            line.get("instance_id")
            for line in runner.logs.json_lines()
            if line.get("message") == ABANDON_REASON_MESSAGE and "lacks tag" in str(line.get("reason", ""))
        }

    def _describe_all(self) -> dict[str, dict[str, Any]]:
        ids = sorted(
            {e.instance_id for g in self.r.groups for e in self.sandbox.lifecycle.events(asg=g.world.asg_name)}
        )
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 200):
            answer = self.r.aws["ec2"].describe_instances(InstanceIds=ids[start : start + 200])
            for reservation in answer["Reservations"]:
                for instance in reservation["Instances"]:
                    found[instance["InstanceId"]] = instance
        return found

    def expected_name(self, instance_id: str, asg: str) -> str | None:
        instance = self.instances.get(instance_id)
        if instance is None:
            return None
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        result = self.template.render(
            InstanceFacts(
                instance_id=instance_id,
                private_ip=instance.get("PrivateIpAddress"),
                tags=tags,
                az=instance.get("Placement", {}).get("AvailabilityZone"),
                asg_name=asg,
                region="us-east-1",
            )
        )
        return result if isinstance(result, str) else None

    def name_tag(self, instance_id: str) -> str | None:
        tags = {t["Key"]: t["Value"] for t in self.instances.get(instance_id, {}).get("Tags", [])}
        return tags.get("Name")

    def run(self) -> tuple[list[InvariantResult], list[GroupResult]]:
        results = {name: InvariantResult(name, text) for name, text in INVARIANTS.items()}
        groups = [self.outcomes(g, results["outcomes"]) for g in self.r.groups]
        for group in self.r.groups:
            self.named_before_service(group, results["named_before_service"])
            self.messages(group, results["messages"])
            self.pending(group, results["no_pending_actions"])
            self.create_tags(group, results["create_tags_bound"])
        return list(results.values()), groups

    def outcomes(self, group: _Group, result: InvariantResult) -> GroupResult:
        asg = group.world.asg_name
        label = asg.split(f"{self.r.run_id}-", 1)[1]
        out = GroupResult(label, group.role)
        last: dict[str, Any] = {}
        for event in self.sandbox.lifecycle.events(asg=asg):
            last[event.instance_id] = event
        out.launched = len(last)
        untagged = group.role.startswith("untagged")
        for instance_id, event in last.items():
            result.checked += 1
            if event.to_state == "InService":
                expected = self.expected_name(instance_id, asg)
                if untagged or expected is None or self.name_tag(instance_id) != expected:
                    result.fail(
                        f"{label}: {instance_id} InService named {self.name_tag(instance_id)!r}, expected {expected!r}"
                    )
                else:
                    out.in_service_named += 1
            elif event.to_state == "Terminated" and event.cause == "ABANDON" and untagged:
                if instance_id in self.abandon_logged:
                    out.abandoned_with_reason += 1
                else:
                    result.fail(f"{label}: {instance_id} abandoned without a logged missing-tag reason")
            elif event.to_state == "Terminated" and event.cause == "timeout:ABANDON" and instance_id in group.never_ip:
                out.timed_out += 1
            elif self._removed_by_runner(group, event):
                out.removed += 1
            else:
                out.other += 1
                result.fail(f"{label}: {instance_id} ended {event.from_state}->{event.to_state} ({event.cause})")
        # the expected numbers
        if untagged:
            initial_ok = sum(1 for i in group.initial if i in self.abandon_logged)
            if initial_ok != len(group.initial):
                result.fail(f"{label}: {initial_ok}/{len(group.initial)} first-generation instances abandoned")
        else:
            if out.in_service_named != group.desired:
                result.fail(f"{label}: {out.in_service_named} named InService, expected {group.desired}")
            if out.timed_out != len(group.never_ip):
                result.fail(f"{label}: {out.timed_out} hook timeouts, expected {len(group.never_ip)}")
            if out.removed != len(group.terminated):
                result.fail(f"{label}: {out.removed} terminated while waiting, expected {len(group.terminated)}")
        return out

    @staticmethod
    def _removed_by_runner(group: _Group, event: Any) -> bool:
        """Terminated through EC2 while waiting, or (untagged) a replacement scaled in by the runner."""
        if event.to_state != "Terminated":
            return False
        if event.cause == "external" and event.instance_id in group.terminated:
            return True
        return (
            group.role.startswith("untagged")
            and group.scaled_in_at is not None
            and event.time >= group.scaled_in_at
            and event.instance_id not in group.initial
        )

    def named_before_service(self, group: _Group, result: InvariantResult) -> None:
        asg = group.world.asg_name
        for event in self.sandbox.lifecycle.events(asg=asg):
            if event.to_state != "InService":
                continue
            result.checked += 1
            expected = self.expected_name(event.instance_id, asg)
            if event.name_tag is None or event.name_tag != expected:
                result.fail(f"{event.instance_id} entered service named {event.name_tag!r} (expected {expected!r})")

    def messages(self, group: _Group, result: InvariantResult) -> None:
        deleted: set[str] = set()
        seen: set[str] = set()
        for trigger in group.triggers:
            for record in trigger.stats().invocation_log:
                seen.update(record.message_ids)
                if record.outcome not in (Outcome.SUCCESS, Outcome.PARTIAL):
                    continue
                deleted.update(m for m in record.message_ids if m not in record.failed_message_ids)
        dlq = self._drain(group.world.dlq_url)
        result.checked += len(seen)
        left = group.triggers[-1].queue_counts()
        if any(left.values()):
            result.fail(f"{group.world.asg_name}: source queue not empty: {left}")
        if sorted(b for _, b in dlq) != sorted(group.poison):
            result.fail(
                f"{group.world.asg_name}: DLQ holds {sorted(b for _, b in dlq)!r}, expected poison {group.poison!r}"
            )
        dlq_ids = {m for m, _ in dlq}
        for message_id in sorted(seen - deleted - dlq_ids):
            result.fail(f"{group.world.asg_name}: message {message_id} neither deleted after success nor in the DLQ")

    def _drain(self, queue_url: str) -> list[tuple[str, str]]:
        """Every message of a DLQ (received, not deleted: they reappear after the visibility timeout)."""
        sqs = self.r.aws["sqs"]
        found: dict[str, str] = {}
        for _ in range(20):
            answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                found[message["MessageId"]] = message["Body"]
        return list(found.items())

    def pending(self, group: _Group, result: InvariantResult) -> None:
        result.checked += 1
        for action in self.sandbox.lifecycle.pending_actions(asg=group.world.asg_name):
            result.fail(f"{group.world.asg_name}: action of {action.instance_id} still pending")

    def create_tags(self, group: _Group, result: InvariantResult) -> None:
        calls: Counter[str] = Counter()
        for record in self.sandbox.journal.records():
            if record.service == "ec2" and record.action == "CreateTags" and record.status == 200:
                calls.update(set(record.resources))
        instances = {e.instance_id for e in self.sandbox.lifecycle.events(asg=group.world.asg_name)}
        for instance_id in sorted(instances):
            result.checked += 1
            deliveries = group.deliveries.by_instance.get(instance_id, 0)
            bound = 1 + max(0, deliveries - 1)
            if calls[instance_id] > bound:
                result.fail(f"{instance_id}: {calls[instance_id]} CreateTags for {deliveries} deliveries")


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------


def run_chaos(
    config: ChaosConfig, sandbox: Sandbox | None = None, out: Callable[[str], None] = lambda _: None
) -> ChaosReport:
    """Runs one configuration; uses ``sandbox`` if given (restoring its clock and faults), else starts one."""
    if sandbox is None:
        with Sandbox(clock_scale=config.clock_scale) as own, environment(own.env()):
            return _run(config, own, out)
    return _run(config, sandbox, out)


def _run(config: ChaosConfig, sandbox: Sandbox, out: Callable[[str], None]) -> ChaosReport:
    started = time.monotonic()
    saved_scale = sandbox.clock.scale
    sandbox.controls.reset()
    sandbox.clock.set_scale(config.clock_scale)
    runner = _Runner(config, sandbox, out)
    journal_start = len(sandbox.journal.records())
    try:
        runner.build()
        out(f"built {len(runner.groups)} groups; scaling out")
        runner.scale_out()
        runner.faults_on()
        runner.send_poison()
        with capture_function_output(runner.logs):
            runner.start_triggers()
            try:
                quiescent = runner.wait()
            finally:
                runner.stop()
        stats = sandbox.controls.stats()
        sandbox.controls.reset()
        out("quiescent; checking invariants" if quiescent else "timed out waiting; checking invariants anyway")
        invariants, groups = _Checker(runner).run()
    finally:
        sandbox.controls.reset()
        sandbox.clock.set_scale(saved_scale)
    injected = _injected(runner, stats, sandbox, journal_start)
    return ChaosReport(config, quiescent, time.monotonic() - started, groups, invariants, injected)


def _injected(runner: _Runner, stats: dict[str, Any], sandbox: Sandbox, journal_start: int) -> dict[str, Any]:
    injected: dict[str, Any] = {
        "throttled calls": stats["throttled"]["total"],
        "injected errors": dict(stats["injected"]["by_kind"]),
        "latency spikes": stats["latency"]["spikes"],
        "private IP hidden (answers)": stats["ec2"]["private_ip_hidden"],
        "NotFound (answers)": stats["ec2"]["not_found"] + stats["ec2"]["omitted"],
    }
    injected.update(runner.injected)
    outcomes: Counter[str] = Counter()
    timeouts = 0
    for group in runner.groups:
        for trigger in group.triggers:
            for record in trigger.stats().invocation_log:
                outcomes[str(record.outcome)] += 1
                timeouts += record.outcome is Outcome.TIMEOUT
    injected["invocations by outcome"] = dict(outcomes)
    injected["invocations killed (timeout)"] = timeouts
    calls = [r for r in sandbox.journal.records()[journal_start:] if r.service in ("ec2", "autoscaling")]
    injected["EC2/Auto Scaling calls"] = len(calls)
    return injected


__all__ = ["FAULTS", "INVARIANTS", "ChaosConfig", "ChaosReport", "run_chaos"]
