"""The invariants a fault-suite run must keep, checked from what the sandbox recorded (lifecycle journal,
call journal, queues) and what the function logged, never from what the runner believes happened."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.groups import Group
from handler.naming import DEFAULT_TEMPLATE, InstanceFacts, compile_template
from sandbox.invocation import InvocationOutcome

if TYPE_CHECKING:
    from sandbox.lambda_runtime import FunctionLogs
    from sandbox.lifecycle import LifecycleEvent
    from sandbox.server import Sandbox

# What the handler logs when it completes an action with the failure result.
ABANDON_REASON_MESSAGE = "cannot name instance; completing with the failure result"

INVARIANTS: dict[str, str] = {
    "outcomes": "every launched instance ends InService with the correct Name, or terminated as expected "
    "(ABANDON with a logged reason, DefaultResult of an expired hook, scaled in), in the expected numbers",
    "named_before_service": "no instance entered InService before its Name tag was written",
    "messages": "every message was deleted after success or is in the DLQ; the DLQs hold exactly the poison",
    "no_pending_actions": "no lifecycle action is left pending at the end",
    "create_tags_bound": "CreateTags per instance is at most 1 + the redeliveries of its messages",
}


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
        self.template = compile_template(DEFAULT_TEMPLATE)
        self.instances = self._describe_all()
        self.abandon_logged = {
            line.get("instance_id")
            for line in logs.json_lines()
            if line.get("message") == ABANDON_REASON_MESSAGE and "lacks tag" in str(line.get("reason", ""))
        }

    def _describe_all(self) -> dict[str, dict[str, Any]]:
        ids = sorted({e.instance_id for g in self.groups for e in self.sandbox.lifecycle.events(asg=g.world.asg_name)})
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 200):
            answer = self.aws["ec2"].describe_instances(InstanceIds=ids[start : start + 200])
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
        groups = [self.outcomes(g, results["outcomes"]) for g in self.groups]
        for group in self.groups:
            self.named_before_service(group, results["named_before_service"])
            self.messages(group, results["messages"])
            self.pending(group, results["no_pending_actions"])
            self.create_tags(group, results["create_tags_bound"])
        return list(results.values()), groups

    def outcomes(self, group: Group, result: InvariantResult) -> GroupResult:
        asg = group.world.asg_name
        label = group.label
        out = GroupResult(label, group.role)
        last: dict[str, Any] = {}
        for event in self.sandbox.lifecycle.events(asg=asg):
            last[event.instance_id] = event
        out.launched = len(last)
        untagged = group.untagged
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
    def _removed_by_runner(group: Group, event: LifecycleEvent) -> bool:
        """Terminated through EC2 while waiting, or (untagged) a replacement scaled in by the runner."""
        if event.to_state != "Terminated":
            return False
        if event.cause == "external" and event.instance_id in group.terminated:
            return True
        return (
            group.untagged
            and group.scaled_in_at is not None
            and event.time >= group.scaled_in_at
            and event.instance_id not in group.initial
        )

    def named_before_service(self, group: Group, result: InvariantResult) -> None:
        asg = group.world.asg_name
        for event in self.sandbox.lifecycle.events(asg=asg):
            if event.to_state != "InService":
                continue
            result.checked += 1
            expected = self.expected_name(event.instance_id, asg)
            name = event.tags.get("Name")
            if name is None or name != expected:
                result.fail(f"{event.instance_id} entered service named {name!r} (expected {expected!r})")

    def messages(self, group: Group, result: InvariantResult) -> None:
        deleted: set[str] = set()
        seen: set[str] = set()
        for trigger in group.triggers:
            for record in trigger.stats().invocation_log:
                seen.update(record.message_ids)
                if record.outcome not in (InvocationOutcome.SUCCESS, InvocationOutcome.PARTIAL):
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
            if record.service == "ec2" and record.action == "CreateTags" and record.status == 200:
                calls.update(set(record.resources))
        instances = {e.instance_id for e in self.sandbox.lifecycle.events(asg=group.world.asg_name)}
        for instance_id in sorted(instances):
            result.checked += 1
            deliveries = group.deliveries.by_instance.get(instance_id, 0)
            bound = 1 + max(0, deliveries - 1)
            if calls[instance_id] > bound:
                result.fail(f"{instance_id}: {calls[instance_id]} CreateTags for {deliveries} deliveries")
