"""The fault suite's runner: builds the groups of a run, injects the faults, waits until quiescent.

One run builds a few Auto Scaling groups in the embedded local AWS, each with its own queue, DLQ and
SQS trigger running the real handler (``chaos.function``: one cold start per execution environment),
scales them out while the faults of ``chaos.config.FAULTS`` are injected, waits until everything is
quiescent and then checks the invariants of ``chaos.invariants`` from what the sandbox recorded and
what the function logged. Everything random is drawn from ``ChaosConfig.seed``.

Each group is one deployment: its own queue and DLQ, and one function (``chaos.function``) behind both of
its triggers, the SQS trigger and the sweep's schedule (``sandbox.schedule``, on the sandbox clock).

Groups of a run:

* ``tagged-<n>``: the team's five tags; every instance must end InService with its convention name.
  The first one also receives the poison messages; the last one gets the broken deploy (its function
  first runs with ``FAILURE_RESULT=MAYBE``, then its configuration is updated) and the invocation killed
  mid-batch.
* ``slots``: the team's tags and a hook template numbering the instances (``{tag:App}-{tag:Env}-{slot:2}``,
  slots in the run's DynamoDB table): the names must be exactly 1..N.
* ``untagged``: instances lack the ``Group`` tag; the handler must ABANDON each with the reason tag until
  the circuit breaker opens (ABANDON_BREAKER abandoned launches), then release the next ones unnamed with
  CONTINUE, so the group reaches its capacity instead of looping.
* ``short-hb``: a hook with a 30 s heartbeat timeout on a fast sandbox clock. Some instances never get a
  private IP (the handler waits), others are terminated through EC2 while in Pending:Wait; all of them
  must end by the hook's DefaultResult (ABANDON) and their replacements, launched with a long heartbeat
  timeout, must be named.

``lost_messages`` deletes a share of the launch messages of the tagged (but not the broken deploy's) and
slot groups before any trigger starts: only the scheduled sweep can name and release those instances.
At the end of a run its groups are deleted, so the next run (another seed) starts from an empty fleet.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.config import Config

from chaos.config import ChaosConfig
from chaos.function import KillSwitch, deployed_function
from chaos.groups import Group
from chaos.invariants import check_invariants
from chaos.report import ChaosReport
from sandbox.event_source_mapping import REPORT_BATCH_ITEM_FAILURES, EventSourceMappingSettings
from sandbox.faults import ErrorKind
from sandbox.invocation import InvocationOutcome
from sandbox.lambda_runtime import FunctionLogs, capture_function_output, environment
from sandbox.schedule import Schedule
from sandbox.server import Sandbox
from sandbox.trigger import SqsTrigger
from scenarios import TEAM_TAGS, World, build_world, create_slot_table

# Seconds on the real clock; sandbox-clock seconds are these times the clock scale.
LONG_HEARTBEAT = 7200  # the longest HeartbeatTimeout AWS allows
SHORT_HEARTBEAT = 30  # the shortest
TRIGGER_MAPPING = EventSourceMappingSettings(
    batch_size=10,
    maximum_batching_window_in_seconds=0.2,
    maximum_concurrency=2,
    function_response_types=(REPORT_BATCH_ITEM_FAILURES,),
)

SLOT_TEMPLATE = "{tag:App}-{tag:Env}-{slot:2}"
POISON_BODIES = (
    "this is not JSON",
    "{}",
    '{"LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"}',
    '{"LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING", "AutoScalingGroupName": "x", '
    '"LifecycleHookName": "h", "LifecycleActionToken": "t", "EC2InstanceId": "not-an-instance"}',
    '["a", "list"]',
    '{"Type": "Notification", "Message": "{not json"}',
)


class _Runner:
    """One run: builds its groups, turns the faults on, drives the scenario until quiescent."""

    def __init__(self, config: ChaosConfig, sandbox: Sandbox, out: Callable[[str], None]) -> None:
        self.config = config
        self.sandbox = sandbox
        self.say = out
        self.rng = random.Random(config.seed)
        self.logs = FunctionLogs()
        self.run_id = uuid.uuid4().hex[:6]
        boto = Config(retries={"mode": "standard", "max_attempts": 10}, max_pool_connections=20)
        self.aws = {name: sandbox.client(name, config=boto) for name in ("ec2", "sqs", "autoscaling")}
        self.groups: list[Group] = []
        self.injected: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}
        self.first_seen_lock = threading.Lock()

    # -- setup ------------------------------------------------------------------------------------------
    def build(self) -> None:
        c = self.config
        table = create_slot_table(f"chaos-{self.run_id}-slots", self.sandbox.endpoint_url)
        # the shipped retry policy; a margin sized for the short function timeout; the sweep's threshold
        base_env = {
            "TIME_MARGIN_SECONDS": "1",
            "SWEEP_STUCK_AFTER_SECONDS": str(c.sweep_stuck_after_seconds),
            "SLOT_TABLE": table,
        }
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
            label = f"tagged-{index + 1}"
            world = self._world(label, max_receive_count=5 if poison else (1000 if broken else 20))
            group = Group(
                label, world, "+".join(roles), c.instances, dict(base_env), broken=broken, broken_done=not broken
            )
            if last and c.on("killed_invocation"):
                group.kill = KillSwitch(delay=c.function_timeout + 1.5)
            self.groups.append(group)
        if c.slot_instances > 0:
            metadata = json.dumps({"asg-namer:name-template": SLOT_TEMPLATE})
            world = self._world("slots", notification_metadata=metadata)
            role = "slot template -> 1..N"
            self.groups.append(Group("slots", world, role, c.slot_instances, dict(base_env), template=SLOT_TEMPLATE))
        if c.untagged_instances > 0:
            tags = {k: v for k, v in TEAM_TAGS.items() if k != "Group"}
            world = self._world("untagged", tags=tags)
            role = "untagged -> ABANDON, breaker"
            self.groups.append(Group("untagged", world, role, c.untagged_instances, dict(base_env)))
        hb_faults = (c.never_ip_instances if c.on("heartbeat_timeout") else 0) + (
            c.terminated_instances if c.on("terminated_while_waiting") else 0
        )
        if hb_faults:
            world = self._world("short-hb", heartbeat_timeout=SHORT_HEARTBEAT)
            self.groups.append(Group("short-hb", world, "short heartbeat -> DefaultResult", hb_faults, dict(base_env)))
        for group in self.groups:
            group.env["QUEUE_ARN"] = group.world.queue_arn

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

    def _group(self, label: str) -> Group | None:
        return next((g for g in self.groups if g.label == label), None)

    def _in_service(self, group: Group) -> int:
        """Instances of the group in service now, from the lifecycle journal: watching takes no API call (the
        runner's polling must not draw from the Auto Scaling bucket the function shares under throttling)."""
        last = {e.instance_id: e.to_state for e in self.sandbox.lifecycle.events(asg=group.world.asg_name)}
        return sum(1 for state in last.values() if state == "InService")

    def _group_states(self, group: Group) -> dict[str, str]:
        answer = self.aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[group.world.asg_name])
        return {i["InstanceId"]: i["LifecycleState"] for g in answer["AutoScalingGroups"] for i in g["Instances"]}

    def lose_messages(self) -> None:
        """Deletes a seeded share of the launch messages of the tagged (not the broken deploy's) and slot groups
        before any trigger runs; the others are made visible again at once."""
        if not self.config.on("lost_messages") or self.config.lost_share <= 0:
            return
        sqs = self.aws["sqs"]
        for group in self.groups:
            if group.broken or not (group.role.startswith("tagged") or group.numbered):
                continue
            messages = self._take_all(group)
            launches = [m for m in messages if json.loads(m["Body"]).get("EC2InstanceId")]
            lost = self.rng.sample(launches, round(len(launches) * self.config.lost_share))
            for message in messages:
                if message in lost:
                    sqs.delete_message(QueueUrl=group.world.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    group.lost.add(json.loads(message["Body"])["EC2InstanceId"])
                else:
                    sqs.change_message_visibility(
                        QueueUrl=group.world.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
            self.injected["hook messages lost"] += len(lost)

    def _take_all(self, group: Group) -> list[dict[str, Any]]:
        """Every message the group's queue holds now: its launch messages and the hook's test notification."""
        wanted = group.desired + 1
        taken: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 30
        while len(taken) < wanted and time.monotonic() < deadline:
            answer = self.aws["sqs"].receive_message(
                QueueUrl=group.world.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
            )
            taken.update((m["MessageId"], m) for m in answer.get("Messages", []))
        return list(taken.values())

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
            controls.inject_error("dynamodb", "*", ErrorKind.HTTP500, probability=c.error_probability)
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
            if g.role.startswith("tagged") or g.numbered
            for n in self.sandbox.lifecycle.notifications(asg=g.world.asg_name)
            if n.kind == "launch"
        ]
        chosen = self.rng.sample(launches, min(self.config.duplicates, len(launches)))
        queues = {g.world.asg_name: g.world.queue_url for g in self.groups}
        for notification in chosen:
            body = json.dumps(notification.body, separators=(",", ":"))
            self.aws["sqs"].send_message(QueueUrl=queues[notification.asg], MessageBody=body)
        self.injected["duplicate deliveries sent"] += len(chosen)

    # -- the function and its triggers -------------------------------------------------------------------
    def deploy(self) -> None:
        """Each group's function (broken deploy: a bad FAILURE_RESULT) behind its SQS trigger and its sweep."""
        for group in self.groups:
            env = dict(group.env)
            if group.broken:
                env["FAILURE_RESULT"] = "MAYBE"
            function = deployed_function(env, group.deliveries, group.kill, self.config.function_timeout)
            group.function = function
            group.trigger = SqsTrigger(
                group.world.queue_url,
                function=function,
                mapping=TRIGGER_MAPPING,
                endpoint_url=self.sandbox.endpoint_url,
                idle_poll_interval=0.1,
            )
            group.sweep = Schedule(
                f"{group.world.asg_name}-sweep", self.config.sweep_schedule, function, self.sandbox.clock
            )
            group.trigger.start()
            group.sweep.start()

    def fix_broken_deploy(self, group: Group) -> None:
        """Once every message of the broken group was delivered at least twice to failing inits, the function's
        configuration is fixed (UpdateFunctionConfiguration): the next invocations start cold with it."""
        assert group.trigger is not None and group.function is not None
        init_failures: Counter[str] = Counter()
        for record in group.trigger.stats().invocation_log:
            if record.outcome is InvocationOutcome.INIT_ERROR:
                init_failures.update(record.message_ids)
        expected = group.desired + 1  # launch messages and the hook's test notification
        if len(init_failures) < expected or min(init_failures.values()) < 2:
            return
        self.injected["broken deploy: records retried"] = len(init_failures)
        self.injected["broken deploy: failed inits"] = group.trigger.stats().batch_failures[
            str(InvocationOutcome.INIT_ERROR)
        ]
        group.function.update_configuration(group.env)
        group.broken = False
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
            if self.sandbox.lifecycle.pending_actions(asg=group.world.asg_name):
                quiet = False
                continue
            if self._in_service(group) != group.desired:
                quiet = False
                continue
            if group.poison and self._dlq_count(group) < len(group.poison):
                quiet = False
                continue
            assert group.trigger is not None
            quiet &= group.trigger.wait_until_idle(timeout=0)
        return quiet

    def _dlq_count(self, group: Group) -> int:
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
        """Stops the schedules and the triggers, then waits for killed invocations' threads to return: they
        still write logs and EMF metrics, which must land in this run's log, not in whatever captures stdout
        next."""
        for group in self.groups:
            if group.sweep is not None:
                group.sweep.stop(timeout=self.config.function_timeout + 5)
            if group.trigger is not None:
                group.trigger.stop(timeout=self.config.function_timeout + 5)
        deadline = time.monotonic() + 60
        functions = [g.function for g in self.groups if g.function is not None]
        while time.monotonic() < deadline and any(f.stats().late_threads_running for f in functions):
            time.sleep(0.1)

    def clean_up(self) -> None:
        """Deletes the run's groups (their instances with them): the next run starts from an empty fleet."""
        for group in self.groups:
            self.aws["autoscaling"].delete_auto_scaling_group(
                AutoScalingGroupName=group.world.asg_name, ForceDelete=True
            )


def _coin(instance_id: str, salt: str) -> bool:
    """A stable, seed-free half of the instances (by id)."""
    return sum(ord(ch) for ch in f"{salt}:{instance_id}") % 2 == 0


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
        runner.lose_messages()
        runner.faults_on()
        runner.send_poison()
        with capture_function_output(runner.logs):
            runner.deploy()
            try:
                quiescent = runner.wait()
            finally:
                runner.stop()
        stats = sandbox.controls.stats()
        sandbox.controls.reset()
        out("quiescent; checking invariants" if quiescent else "timed out waiting; checking invariants anyway")
        invariants, groups = check_invariants(sandbox, runner.groups, runner.aws, runner.logs)
        runner.clean_up()
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
    sweeps: Counter[str] = Counter()
    for group in runner.groups:
        if group.trigger is not None:
            for record in group.trigger.stats().invocation_log:
                outcomes[str(record.outcome)] += 1
                timeouts += record.outcome is InvocationOutcome.TIMEOUT
        for fired in group.sweep.invocations() if group.sweep is not None else []:
            sweeps["sweeps"] += 1
            if isinstance(fired.response, dict):
                sweeps["named"] += int(fired.response.get("named", 0))
                sweeps["released"] += int(fired.response.get("released", 0))
    injected["invocations by outcome"] = dict(outcomes)
    injected["invocations killed (timeout)"] = timeouts
    injected["scheduled sweeps"] = sweeps["sweeps"]
    injected["sweeps: named, released"] = f"{sweeps['named']}, {sweeps['released']}"
    calls = [r for r in sandbox.journal.records()[journal_start:] if r.service in ("ec2", "autoscaling")]
    injected["EC2/Auto Scaling calls"] = len(calls)
    return injected
