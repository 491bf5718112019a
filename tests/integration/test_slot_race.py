"""A {slot} race within one batch, against the sandbox's DynamoDB: a number skipped because a batch mate was
trying it must not be left as a gap when that batch mate turns out to hold another number already.

Found by tests/e2e/test_slots.py (about one run in twenty: names 1..49 and 51): a message delivered twice is
handled by two execution environments at once. The interleaving is forced here with a gate around the real
Fleet's claim (the order of the DynamoDB transactions is the only thing controlled; every call is real).
"""

from __future__ import annotations

import threading
from typing import Any

from handler.fleet import ClaimOutcome, Fleet, client_config
from handler.slots import SlotAllocator
from sandbox import Sandbox
from scenarios import create_slot_table

POOL = "web-{slot}"
GATE = 3.0  # seconds a gated claim waits for its turn at most (a fixed allocator never lets it come)


class GatedFleet(Fleet):
    """The real Fleet; each claim first waits for what ``before`` says it must follow."""

    def __init__(self, before: dict[tuple[str, int | None], tuple[threading.Event, threading.Event]]) -> None:
        super().__init__(client_config({"mode": "standard", "max_attempts": 3}, max_pool_connections=4), "us-east-1")
        self._before = before

    def claim_slot(
        self, table: str, pool: str, slot: int, instance_id: str, now: float, previous: str | None
    ) -> ClaimOutcome:
        announce, wait = self._before.get((instance_id, slot)) or self._before[(instance_id, None)]
        announce.set()
        wait.wait(GATE)
        return super().claim_slot(table, pool, slot, instance_id, now, previous)


def test_a_number_a_batch_mate_gave_up_is_not_skipped(sandbox: Sandbox, unique: str) -> None:
    # GIVEN a batch that read the pool while it was empty, with instances x and y
    table = create_slot_table(f"race-{unique}", sandbox.endpoint_url)
    y_claims, x_retries, nothing = threading.Event(), threading.Event(), threading.Event()
    gates: dict[tuple[str, int | None], tuple[threading.Event, threading.Event]] = {
        ("i-x", 1): (nothing, y_claims),  # x's first claim goes once y is claiming too
        ("i-x", None): (x_retries, nothing),  # x's next claim says so and goes on
        ("i-y", None): (y_claims, x_retries),  # y's claim is answered after x's next one
    }
    batch = SlotAllocator(GatedFleet(gates), table, gone_after_seconds=300)
    batch.prepare([POOL])
    # AND meanwhile another environment handled a copy of y's message: y holds number 1
    other = Fleet(client_config({"mode": "standard", "max_attempts": 3}, max_pool_connections=2), "us-east-1")
    assert SlotAllocator(other, table, gone_after_seconds=300).slot_for(POOL, "i-y") == 1
    # WHEN the batch claims for x and y at once
    got: dict[str, Any] = {}
    x = threading.Thread(target=lambda: got.update(x=batch.slot_for(POOL, "i-x")))
    x.start()
    got["y"] = batch.slot_for(POOL, "i-y")
    x.join(30)
    # THEN y keeps 1 and x gets 2, the lowest free number (today: 3, and 2 stays free)
    assert got == {"x": 2, "y": 1}
