"""The reads a batch makes before its first name: which of them overlap, and what a failed read-ahead costs."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from handler.config import load_settings
from handler.fleet import HookRecord, InstanceRecord, TransientAwsError
from handler.hooks import HookDirectory
from handler.launch import LaunchHandler
from handler.observability import new_metrics
from sandbox.lambda_context import LambdaContext
from scenarios import TEAM_TAGS
from tests.support import events as f

TAGS = {**TEAM_TAGS, "aws:autoscaling:groupName": f.ASG_NAME}
BOUND = 60.0  # bounds a failing test only: the overlapping read answers at once when the code is right


class ReadsFleet:
    """Answers the batch's reads; DescribeInstances waits (up to BOUND) for DescribeLifecycleHooks to be asked."""

    def __init__(self, instance: InstanceRecord, hooks_fail: bool = False) -> None:
        self.instance = instance
        self.hooks_fail = hooks_fail
        self.hooks_asked = threading.Event()
        self.hooks_asked_during_describe: bool | None = None
        self.hook_reads = 0
        self.name_checks: list[set[str]] = []

    def describe(self, instance_ids: Iterable[str]) -> dict[str, InstanceRecord]:
        if self.hooks_asked_during_describe is None:
            self.hooks_asked_during_describe = self.hooks_asked.wait(BOUND)
        return {i: self.instance for i in instance_ids if i == self.instance.instance_id}

    def launch_hooks(self, group: str) -> list[HookRecord]:
        self.hook_reads += 1
        self.hooks_asked.set()
        if self.hooks_fail and self.hook_reads == 1:
            raise TransientAwsError("Rate exceeded")
        return [HookRecord(group, f.HOOK_NAME, None, None, 600, "ABANDON")]

    def instances_named(self, tag_key: str, names: Iterable[str]) -> dict[str, frozenset[str]]:
        self.name_checks.append(set(names))
        return {}


def _start_batch(fleet: ReadsFleet) -> None:
    settings = load_settings({"AWS_REGION": "us-east-1"})
    launches = LaunchHandler(settings, fleet, new_metrics("Test", "asg-namer"), HookDirectory(fleet))  # type: ignore[arg-type]
    record = f.sqs_record(f.lifecycle_body(instance_id=fleet.instance.instance_id))
    launches.start_batch([record], LambdaContext())


def _instance() -> InstanceRecord:
    return InstanceRecord(f.new_instance_id(), "pending", "10.0.12.34", "us-east-1a", TAGS, (), (), None)


def test_a_cold_batch_reads_its_groups_hooks_while_its_instances_are_described() -> None:
    # GIVEN an execution environment that has not read the group's hooks yet
    fleet = ReadsFleet(_instance())
    # WHEN its first batch starts
    _start_batch(fleet)
    # THEN DescribeLifecycleHooks was asked while DescribeInstances was still waiting for its answer
    assert fleet.hooks_asked_during_describe is True
    # AND the names were checked once, for the instance of the batch, with the hook read only once
    assert fleet.name_checks == [{"vg-store-web-release-a-12-34"}]
    assert fleet.hook_reads == 1


def test_a_failed_read_ahead_leaves_the_hooks_to_the_names_that_need_them() -> None:
    # GIVEN Auto Scaling throttles the first DescribeLifecycleHooks
    fleet = ReadsFleet(_instance(), hooks_fail=True)
    # WHEN a batch starts
    _start_batch(fleet)
    # THEN the batch read the hooks again for its names, and its collision check still ran
    assert fleet.hook_reads == 2
    assert fleet.name_checks == [{"vg-store-web-release-a-12-34"}]
