"""NameWriter.prefetch: a batch's numbers are claimed first, then every name it will write, the numbered ones
included, is checked against the live fleet in one DescribeInstances."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from aws_lambda_powertools.metrics import EphemeralMetrics

from handler.config import load_settings
from handler.fleet import Fleet, InstanceRecord
from handler.name_writer import NameWriter
from handler.naming import MAX_NAME_LENGTH, SLOT_IN_POOL, NeedsSlot
from tests.support.slot_table import Account

POOL = f"web-{SLOT_IN_POOL}"


class NamedFleet(Account):
    """The slot table and EC2 of test_slots, plus the collision check's tag filter."""

    def __init__(self, named: dict[str, str]) -> None:
        super().__init__()
        self.named = named  # name -> live instance carrying it
        self.asked: list[set[str]] = []

    def instances_named(self, tag_key: str, names: Iterable[str]) -> dict[str, frozenset[str]]:
        wanted = set(names)
        self.asked.append(wanted)
        return {name: frozenset({holder}) for name, holder in self.named.items() if name in wanted}


def record(instance_id: str) -> InstanceRecord:
    return InstanceRecord(instance_id, "pending", "10.0.1.2", "us-east-1a", {}, (), (), None)


def test_numbered_and_plain_names_share_one_collision_check() -> None:
    # GIVEN a batch of three {slot} launches and one plain name, and a hand-named instance already called web-2
    fleet = NamedFleet({"web-2": "i-handmade"})
    batch = [f"i-0abc00000000000{n}" for n in (1, 2, 3)]
    for instance_id in batch:
        fleet.launch(instance_id)
    settings = load_settings({"AWS_REGION": "us-east-1", "SLOT_TABLE": "slots"})
    writer = NameWriter(settings, cast(Fleet, fleet), EphemeralMetrics(namespace="test"))
    writer.known_alive(batch)
    rendered: list[tuple[str, str | NeedsSlot]] = [(i, NeedsSlot(POOL, 0, MAX_NAME_LENGTH)) for i in batch]
    # WHEN the batch is prefetched, then each record asks for its final name
    writer.prefetch([*rendered, ("i-plain", "db-10-2")])
    names = [writer.final_name(record(i), NeedsSlot(POOL, 0, MAX_NAME_LENGTH)) for i in batch]
    # THEN one collision check asked for all four names, and the taken one was suffixed without another call
    assert fleet.asked == [{"web-1", "web-2", "web-3", "db-10-2"}]
    assert names == ["web-1", "web-2-0002", "web-3"]
