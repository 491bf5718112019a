"""An in-memory slot table and EC2 for the {slot} allocator's unit tests, with DynamoDB's transaction semantics
(a conditional write fails as a whole); tests/integration/test_slot_race.py and tests/e2e/test_slots.py run the
same allocator against the sandbox."""

from __future__ import annotations

from collections.abc import Iterable

from handler.fleet import BlockOutcome, ClaimOutcome, InstanceRecord, SlotItem

POOL = "web-{slot}"


class Account:
    """One DynamoDB table and EC2's view of the instances, with the calls made to them."""

    def __init__(self) -> None:
        self.slots: dict[tuple[str, int], SlotItem] = {}
        self.holders: dict[tuple[str, str], int] = {}
        self.states: dict[str, str] = {}
        self.calls: list[str] = []

    def launch(self, instance_id: str) -> None:
        self.states[instance_id] = "pending"

    def terminate(self, instance_id: str) -> None:
        self.states[instance_id] = "terminated"

    def live_slots(self, pool: str = POOL) -> dict[str, int]:
        return {item.holder: slot for (p, slot), item in self.slots.items() if p == pool and self.live(item.holder)}

    def live(self, instance_id: str) -> bool:
        return self.states.get(instance_id) not in (None, "terminated")

    # the Fleet methods the allocator uses
    def query_pool(self, table: str, pool: str) -> list[SlotItem]:
        self.calls.append("Query")
        return [item for (p, _), item in sorted(self.slots.items()) if p == pool]

    def claim_slot(
        self, table: str, pool: str, slot: int, instance_id: str, now: float, previous: str | None
    ) -> ClaimOutcome:
        outcome = self.claim_slots(table, pool, [(slot, instance_id, previous)], now)
        return ClaimOutcome(outcome.claimed, outcome.holding.get(instance_id))

    def claim_slots(self, table: str, pool: str, claims: list[tuple[int, str, str | None]], now: float) -> BlockOutcome:
        """DynamoDB's TransactWriteItems: every condition holds, or nothing is written."""
        self.calls.append("TransactWriteItems")
        taken, holding = set(), {}
        for slot, instance_id, previous in claims:
            current = self.slots.get((pool, slot))
            if not (current is None if previous is None else (current is not None and current.holder == previous)):
                taken.add(slot)
            held = self.holders.get((pool, instance_id))
            if held is not None:
                holding[instance_id] = held
        if taken or holding:
            return BlockOutcome(False, frozenset(taken), holding)
        for slot, instance_id, previous in claims:
            self.slots[(pool, slot)] = SlotItem(slot, instance_id, now)
            self.holders[(pool, instance_id)] = slot
            if previous is not None:
                self.holders.pop((pool, previous), None)
        return BlockOutcome(True)

    def describe(self, instance_ids: Iterable[str], states: Iterable[str] = ()) -> dict[str, InstanceRecord]:
        """DescribeInstances with an instance-id filter (and an instance-state-name one when given)."""
        wanted_states = set(states)
        self.calls.append("DescribeInstances" + (f" {sorted(wanted_states)}" if wanted_states else ""))
        return {
            i: InstanceRecord(i, self.states[i], "10.0.0.1", "us-east-1a", {}, (), (), None)
            for i in set(instance_ids)
            if i in self.states and (not wanted_states or self.states[i] in wanted_states)
        }
