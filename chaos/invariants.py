"""The invariants a fault-suite run must keep, checked from what the sandbox recorded (lifecycle journal,
call journal, queues) and what the function logged, never from what the runner believes happened."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.groups import Group
from handler.config import FAILURE_TAG_KEY, VARIABLES
from handler.fleet import LIVE_STATES
from handler.naming import DEFAULT_TEMPLATE, SLOT_IN_POOL, InstanceFacts, NeedsSlot, compile_template
from sandbox.invocation import InvocationOutcome

if TYPE_CHECKING:
    from sandbox.lambda_runtime import FunctionLogs
    from sandbox.lifecycle import LifecycleEvent
    from sandbox.server import Sandbox

NAME_TAG = "Name"
# What the handler logs when the breaker completes a launch with CONTINUE instead of ABANDON, and when the
# sweep writes a name (each line carries the instance's id).
BREAKER_MESSAGE = "naming circuit open"
SWEEP_NAMED_MESSAGE = "sweep named instance"
MISSING_TAG_REASON = "lacks tag"  # in the reason tag of an instance missing a tag the template needs
DEFAULT_BREAKER = int(next(v.default for v in VARIABLES if v.name == "ABANDON_BREAKER"))

INVARIANTS: dict[str, str] = {
    "outcomes": "every launched instance ends InService with the correct Name, or as the policy says (untagged: "
    "ABANDON with the reason tag until the breaker opens, then InService unnamed with the reason tag; expired "
    "hooks: DefaultResult; terminated through EC2), in the expected numbers; slot names are exactly 1..N",
    "named_before_service": "no instance entered InService before its Name tag was written (or, released by the "
    "breaker, its reason tag)",
    "unique_names": "no two live instances share a Name: at every transition to InService and at the end",
    "messages": "every message was deleted after success or is in the DLQ; the DLQs hold exactly the poison",
    "no_pending_actions": "no lifecycle action is left pending at the end",
    "create_tags_bound": "CreateTags writing an instance's Name are at most 1 + the redeliveries of its messages "
    "+ the sweeps that named it",
}


@dataclass
class GroupResult:
    name: str
    role: str
    launched: int = 0
    in_service_named: int = 0
    abandoned_with_reason: int = 0
    released_unnamed: int = 0  # the breaker's CONTINUE: in service without a Name, with the reason tag
    timed_out: int = 0
    removed: int = 0  # terminated through EC2 while waiting
    lost: int = 0  # hook messages deleted before the function saw them (the sweep named these)
    other: int = 0


@dataclass
class InvariantResult:
    name: str
    description: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.violations.append(message)


def check_invariants(
    sandbox: Sandbox, groups: Sequence[Group], aws: Mapping[str, Any], logs: FunctionLogs
) -> tuple[list[InvariantResult], list[GroupResult]]:
    """Every invariant over every group, and each group's outcome counts. ``aws`` holds ec2 and sqs clients."""
    return _Checker(sandbox, groups, aws, logs).run()


class _Checker:
    """Reads everything once (DescribeInstances, the function's log), then checks group by group."""

    def __init__(self, sandbox: Sandbox, groups: Sequence[Group], aws: Mapping[str, Any], logs: FunctionLogs) -> None:
        self.sandbox = sandbox
        self.groups = groups
        self.aws = aws
        self.instances = self._describe_all()
        lines = logs.json_lines()
        self.breaker_logged = {
            line.get("instance_id") for line in lines if str(line.get("message", "")).startswith(BREAKER_MESSAGE)
        }
        self.sweep_named = Counter(
            str(line.get("instance_id")) for line in lines if line.get("message") == SWEEP_NAMED_MESSAGE
        )

    def _describe_all(self) -> dict[str, dict[str, Any]]:
        ids = sorted({e.instance_id for g in self.groups for e in self.sandbox.lifecycle.events(asg=g.world.asg_name)})
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 200):
            answer = self.aws["ec2"].describe_instances(InstanceIds=ids[start : start + 200])
            for reservation in answer["Reservations"]:
                for instance in reservation["Instances"]:
                    found[instance["InstanceId"]] = instance
        return found

    def fits(self, group: Group, instance_id: str, name: str | None) -> bool:
        """The name the group's template gives the instance (a slot template: with any number)."""
        instance = self.instances.get(instance_id)
        if instance is None or name is None:
            return False
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        rendered = compile_template(group.template or DEFAULT_TEMPLATE).render(
            InstanceFacts(
                instance_id=instance_id,
                private_ip=instance.get("PrivateIpAddress"),
                tags=tags,
                az=instance.get("Placement", {}).get("AvailabilityZone"),
                asg_name=group.world.asg_name,
                region="us-east-1",
            )
        )
        if isinstance(rendered, NeedsSlot):
            prefix, _, suffix = rendered.pool.partition(SLOT_IN_POOL)
            pattern = f"{re.escape(prefix)}\\d{{{rendered.width},}}{re.escape(suffix)}"
            return re.fullmatch(pattern, name) is not None
        return isinstance(rendered, str) and name == rendered

    def name_tag(self, instance_id: str) -> str | None:
        tags = {t["Key"]: t["Value"] for t in self.instances.get(instance_id, {}).get("Tags", [])}
        return tags.get(NAME_TAG)

    def run(self) -> tuple[list[InvariantResult], list[GroupResult]]:
        results = {name: InvariantResult(name, text) for name, text in INVARIANTS.items()}
        groups = [self.outcomes(g, results["outcomes"]) for g in self.groups]
        for group in self.groups:
            self.named_before_service(group, results["named_before_service"])
            self.messages(group, results["messages"])
            self.pending(group, results["no_pending_actions"])
            self.create_tags(group, results["create_tags_bound"])
        self.unique_names(results["unique_names"])
        return list(results.values()), groups

    # ------------------------------------------------------------------ outcomes
    def outcomes(self, group: Group, result: InvariantResult) -> GroupResult:
        label = group.label
        out = GroupResult(label, group.role, lost=len(group.lost))
        last: dict[str, LifecycleEvent] = {}
        for event in self.sandbox.lifecycle.events(asg=group.world.asg_name):
            last[event.instance_id] = event
        out.launched = len(last)
        for instance_id, event in last.items():
            result.checked += 1
            if event.to_state == "InService" and group.untagged:
                if self.released_by_breaker(event):
                    out.released_unnamed += 1
                else:
                    result.fail(f"{label}: {instance_id} InService without the breaker's reason: {dict(event.tags)}")
            elif event.to_state == "InService":
                if self.fits(group, instance_id, self.name_tag(instance_id)):
                    out.in_service_named += 1
                else:
                    result.fail(f"{label}: {instance_id} InService named {self.name_tag(instance_id)!r}")
            elif event.to_state == "Terminated" and event.cause == "ABANDON" and group.untagged:
                if MISSING_TAG_REASON in event.tags.get(FAILURE_TAG_KEY, ""):
                    out.abandoned_with_reason += 1
                else:
                    result.fail(f"{label}: {instance_id} abandoned without the reason tag: {dict(event.tags)}")
            elif event.to_state == "Terminated" and event.cause == "timeout:ABANDON" and instance_id in group.never_ip:
                out.timed_out += 1
            elif event.to_state == "Terminated" and event.cause == "external" and instance_id in group.terminated:
                out.removed += 1
            else:
                out.other += 1
                result.fail(f"{label}: {instance_id} ended {event.from_state}->{event.to_state} ({event.cause})")
        self._expected_numbers(group, out, result)
        return out

    def released_by_breaker(self, event: LifecycleEvent) -> bool:
        return (
            NAME_TAG not in event.tags
            and MISSING_TAG_REASON in event.tags.get(FAILURE_TAG_KEY, "")
            and event.instance_id in self.breaker_logged
        )

    def _expected_numbers(self, group: Group, out: GroupResult, result: InvariantResult) -> None:
        label = group.label
        if group.untagged:
            # ABANDON until the breaker's K abandons were visible; decisions taken meanwhile (at most one per
            # other waiting instance) may add desired - 1; then capacity arrives, unnamed.
            breaker = int(group.env.get("ABANDON_BREAKER", DEFAULT_BREAKER))
            if out.released_unnamed != group.desired:
                result.fail(f"{label}: {out.released_unnamed} released by the breaker, expected {group.desired}")
            if not breaker <= out.abandoned_with_reason <= breaker + group.desired - 1:
                result.fail(f"{label}: {out.abandoned_with_reason} abandoned, breaker {breaker}")
            return
        if out.in_service_named != group.desired:
            result.fail(f"{label}: {out.in_service_named} named InService, expected {group.desired}")
        if out.timed_out != len(group.never_ip):
            result.fail(f"{label}: {out.timed_out} hook timeouts, expected {len(group.never_ip)}")
        if out.removed != len(group.terminated):
            result.fail(f"{label}: {out.removed} terminated while waiting, expected {len(group.terminated)}")
        if group.numbered:
            found = sorted(
                int(name.rsplit("-", 1)[-1])
                for instance_id, event in self._last_events(group).items()
                if event.to_state == "InService" and (name := self.name_tag(instance_id))
            )
            if found != list(range(1, group.desired + 1)):
                result.fail(f"{label}: slot numbers {found}, expected 1..{group.desired}")

    def _last_events(self, group: Group) -> dict[str, LifecycleEvent]:
        return {e.instance_id: e for e in self.sandbox.lifecycle.events(asg=group.world.asg_name)}

    # ------------------------------------------------------------------ names
    def named_before_service(self, group: Group, result: InvariantResult) -> None:
        for event in self.sandbox.lifecycle.events(asg=group.world.asg_name):
            if event.to_state != "InService":
                continue
            result.checked += 1
            if group.untagged:
                if not self.released_by_breaker(event):
                    result.fail(f"{event.instance_id} entered service without the breaker's reason tag")
            elif not self.fits(group, event.instance_id, event.tags.get(NAME_TAG)):
                result.fail(f"{event.instance_id} entered service named {event.tags.get(NAME_TAG)!r}")

    def unique_names(self, result: InvariantResult) -> None:
        """At each transition to InService (the journal, in order, across the run's groups) the entering Name is
        no other in-service instance's; at the end no two live instances of the run share a Name."""
        asgs = {g.world.asg_name for g in self.groups}
        in_service: dict[str, str | None] = {}
        for event in self.sandbox.lifecycle.events():
            if event.asg not in asgs:
                continue
            if event.to_state != "InService":
                in_service.pop(event.instance_id, None)
                continue
            result.checked += 1
            name = event.tags.get(NAME_TAG)
            holders = [i for i, held in in_service.items() if name is not None and held == name]
            if holders:
                result.fail(f"{event.instance_id} entered service named {name!r}, the name of {holders[0]}")
            in_service[event.instance_id] = name
        live = Counter(
            name
            for instance_id, instance in self.instances.items()
            if instance["State"]["Name"] in LIVE_STATES and (name := self.name_tag(instance_id))
        )
        result.checked += sum(live.values())
        for name, sharing in live.items():
            if sharing > 1:
                result.fail(f"{sharing} live instances share the Name {name!r}")

    # ------------------------------------------------------------------ messages and calls
    def messages(self, group: Group, result: InvariantResult) -> None:
        assert group.trigger is not None
        deleted: set[str] = set()
        seen: set[str] = set()
        for record in group.trigger.stats().invocation_log:
            seen.update(record.message_ids)
            if record.outcome not in (InvocationOutcome.SUCCESS, InvocationOutcome.PARTIAL):
                continue
            deleted.update(m for m in record.message_ids if m not in record.failed_message_ids)
        dlq = self._drain(group.world.dlq_url)
        result.checked += len(seen)
        left = group.trigger.queue_counts()
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
        sqs = self.aws["sqs"]
        found: dict[str, str] = {}
        for _ in range(20):
            answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                found[message["MessageId"]] = message["Body"]
        return list(found.items())

    def pending(self, group: Group, result: InvariantResult) -> None:
        result.checked += 1
        for action in self.sandbox.lifecycle.pending_actions(asg=group.world.asg_name):
            result.fail(f"{group.world.asg_name}: action of {action.instance_id} still pending")

    def create_tags(self, group: Group, result: InvariantResult) -> None:
        calls: Counter[str] = Counter()
        for record in self.sandbox.journal.records():
            if record.action == "CreateTags" and record.status == 200 and NAME_TAG in record.tag_keys:
                calls.update(set(record.resources))
        instances = {e.instance_id for e in self.sandbox.lifecycle.events(asg=group.world.asg_name)}
        for instance_id in sorted(instances):
            result.checked += 1
            deliveries = group.deliveries.by_instance.get(instance_id, 0)
            bound = 1 + max(0, deliveries - 1) + self.sweep_named[instance_id]
            if calls[instance_id] > bound:
                result.fail(
                    f"{instance_id}: {calls[instance_id]} CreateTags of its Name for {deliveries} deliveries and"
                    f" {self.sweep_named[instance_id]} sweep(s) that named it"
                )
