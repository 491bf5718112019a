"""Fuzzing the whole record path (parse -> name -> release) through the batch processor, with a fake fleet.

test_messages.py and test_naming.py already fuzz the parser and the template engine on their own; here
arbitrary SQS records go through ``LaunchHandler.handle_record`` inside the Powertools batch processor, next to
one valid launch: whatever a record holds, it may fail only itself, never the batch or its neighbour.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler.config import load_settings
from handler.fleet import ActionNotActive, HookRecord, InstanceRecord
from handler.hooks import HookDirectory
from handler.launch import LaunchHandler
from handler.observability import new_metrics
from handler.processor import ConcurrentBatchProcessor
from sandbox.lambda_context import LambdaContext
from scenarios import TEAM_TAGS
from tests.support import events as f

GOOD_TAGS = {**TEAM_TAGS, "aws:autoscaling:groupName": f.ASG_NAME}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class FakeFleet:
    """Knows some instances and open actions; records every write. Thread-safe (records run concurrently)."""

    def __init__(self, instances: Iterable[InstanceRecord], tokens: Iterable[str]) -> None:
        self.instances = {i.instance_id: i for i in instances}
        self.open_tokens = set(tokens)
        self.lock = threading.Lock()
        self.tags: list[tuple[tuple[str, ...], str, str]] = []
        self.completed: list[tuple[str, str]] = []

    def describe(self, instance_ids: Iterable[str]) -> dict[str, InstanceRecord]:
        return {i: self.instances[i] for i in set(instance_ids) if i in self.instances}

    def launch_hooks(self, group: str) -> list[HookRecord]:
        return [HookRecord(group, f.HOOK_NAME, None, None, 600, "ABANDON")] if group == f.ASG_NAME else []

    def instances_named(self, tag_key: str, names: Iterable[str]) -> dict[str, frozenset[str]]:
        return {}

    def abandoned_launches(self, group: str, since: object) -> list[str]:
        return []

    def create_tags(self, resource_ids: Sequence[str], tags: dict[str, str]) -> None:
        with self.lock:
            self.tags.extend((tuple(resource_ids), key, value) for key, value in tags.items())

    def complete(self, *args: str) -> None:
        token, result = args[2], args[-1]
        with self.lock:
            if token not in self.open_tokens:
                raise ActionNotActive(f"No active Lifecycle Action found with token {token}")
            self.open_tokens.discard(token)
            self.completed.append((token, result))

    def heartbeat(self, *args: str) -> None:
        if args[2] not in self.open_tokens:
            raise ActionNotActive(f"No active Lifecycle Action found with token {args[2]}")


def _launches(fleet: FakeFleet) -> LaunchHandler:
    # no waiting: a record that is not ready fails at once instead of retrying within the invocation
    config = load_settings({"IP_WAIT_MAX_SECONDS": "0", "TIME_MARGIN_SECONDS": "1", "AWS_REGION": "us-east-1"})
    return LaunchHandler(config, fleet, new_metrics("Fuzz", "asg-namer"), HookDirectory(fleet))  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["EC2InstanceId", "LifecycleActionToken", "LifecycleTransition", "AutoScalingGroupName", "Time", "Event"]


@st.composite
def mutated_launch(draw: st.DrawFn) -> str:
    body = f.lifecycle_message()
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(body) + FIELDS))
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(json_values)
    return json.dumps(body)


bodies = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    mutated_launch(),
    st.builds(f.sns_envelope, mutated_launch()),
    st.just(f.test_notification()),
)


@st.composite
def fuzz_records(draw: st.DrawFn) -> dict[str, Any]:
    record = f.sqs_record(draw(bodies))
    if draw(st.booleans()):
        record["attributes"] = draw(st.dictionaries(st.sampled_from(["SentTimestamp", "X"]), st.text(max_size=15)))
    if draw(st.booleans()):
        record["messageAttributes"] = {"k": {"stringValue": draw(st.text(max_size=10)), "dataType": "String"}}
    return record


@FUZZ
@given(st.lists(fuzz_records(), min_size=1, max_size=6), st.integers(0, 6))
def test_arbitrary_records_fail_only_themselves(records: list[dict[str, Any]], position: int) -> None:
    # GIVEN one valid launch of a known, tagged instance with an IP and an open action, among arbitrary records
    instance_id, token = f.new_instance_id(), str(uuid.uuid4())
    instance = InstanceRecord(instance_id, "pending", "10.0.3.4", "us-east-1a", GOOD_TAGS, (), (), None)
    fleet = FakeFleet([instance], [token])
    good = f.sqs_record(f.lifecycle_body(instance_id=instance_id, token=token), message_id="good-record")
    batch = list(records)
    batch.insert(min(position, len(batch)), good)
    launches = _launches(fleet)
    processor = ConcurrentBatchProcessor(prepare=launches.start_batch, max_workers=4)
    # WHEN the batch is processed the way lambda_handler does it
    response = process_partial_response(
        event=f.sqs_event(*batch),
        record_handler=launches.handle_record,
        processor=processor,
        context=LambdaContext(timeout_seconds=5),
    )
    # THEN the answer is a valid partial batch response naming only fuzz records
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert failed <= {r["messageId"] for r in records}
    # AND the valid launch was named with the convention and released, exactly once
    assert (
        (instance_id,),
        "Name",
        "vg-store-web-release-a-3-4",
    ) in fleet.tags
    assert fleet.completed.count((token, "CONTINUE")) == 1
    # AND no fuzz record wrote anything about the valid instance beyond that
    assert sum(1 for resources, _, _ in fleet.tags if instance_id in resources) == 1


@FUZZ
@given(st.lists(fuzz_records(), min_size=1, max_size=8))
def test_a_batch_of_only_arbitrary_records_never_raises(records: list[dict[str, Any]]) -> None:
    # GIVEN only arbitrary records and a fleet that knows nothing
    fleet = FakeFleet([], [])
    launches = _launches(fleet)
    processor = ConcurrentBatchProcessor(prepare=launches.start_batch, max_workers=4)
    # WHEN they are processed
    response = process_partial_response(
        event=f.sqs_event(*records),
        record_handler=launches.handle_record,
        processor=processor,
        context=LambdaContext(timeout_seconds=5),
    )
    # THEN each record is reported on its own (never a whole-batch exception) and nothing was written
    failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert set(failed) <= {r["messageId"] for r in records}
    assert len(failed) == len(set(failed))
    assert fleet.completed == []
