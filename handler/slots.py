"""{slot} numbers: the smallest positive number no other live instance of the same pool holds.

A pool is the rendered name with the number left out, so two groups whose names render the same prefix
share one numbering and can never produce the same name. Slots live in a DynamoDB table (SLOT_TABLE):

    pool (partition key)   sk (sort key)          attributes
    "web-prod-{slot}"      "s#000000007"          holder = "i-0abc...", claimed_at = epoch seconds
    "web-prod-{slot}"      "h#i-0abc..."          slot = 7

A batch claims the numbers of its instances of one pool together, in one TransactWriteItems (lowest free
numbers first, in launch order), so concurrent batches compete once per block, not once per instance. A
claim is one TransactWriteItems: the slot item (condition: it does not exist, or its holder is the dead
instance being replaced) and the holder item (condition: the instance holds no slot in the pool yet), and
the dead holder's item deleted. So a number is never held twice, an instance never holds two numbers, and
nothing is locked that a crash could leave held (DynamoDB transactions: docs/aws-behaviour.md). An instance
that already holds a number gets it again (redelivery, sweep, redrive). Reading a pool is one Query (no
scan); whether holders are still alive is one DescribeInstances per batch for the holders of the lowest
LIVENESS_CHECKS numbers (asking only for gone ones while every such claim is recent, as in a burst). In a
pool with more live holders than that, a dead holder's higher number is taken over once it is among the
lowest LIVENESS_CHECKS (until then a newcomer gets a higher number).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from handler.errors import PermanentNamingFailure
from handler.fleet import DESCRIBE_CHUNK, GONE_STATES, MAX_BLOCK, Fleet, InstanceRecord, SlotItem
from handler.observability import logger

LIVENESS_CHECKS = DESCRIBE_CHUNK  # holders whose liveness one batch checks: one DescribeInstances
MAX_CLAIM_ATTEMPTS = 50  # conditional writes one instance may lose to others before a fresh read of the pool


def claim_order(
    held: Mapping[int, SlotItem], dead: frozenset[str] | set[str], skip: Iterable[int] = ()
) -> Iterator[tuple[int, str | None]]:
    """Numbers to try, lowest first, with the holder a claim replaces (None: nobody holds it).

    A number is a candidate when nobody holds it or its holder is dead; ``skip`` are numbers lost to a
    concurrent claim since the pool was read (or already given, in a preview). Never ends.
    """
    skipped = set(skip)
    slot = 1
    while True:
        if slot not in skipped:
            item = held.get(slot)
            if item is None:
                yield slot, None
            elif item.holder in dead:
                yield slot, item.holder
        slot += 1


def is_dead(item: SlotItem, described: Mapping[str, InstanceRecord], now: float, gone_after: float) -> bool:
    """Terminated, or unknown to EC2 long after its claim. Unknown right after a claim is not proof: EC2 is
    eventually consistent, and a brand-new instance may not be visible yet."""
    record = described.get(item.holder)
    if record is not None:
        return record.is_gone
    return now - item.claimed_at > gone_after


@dataclass
class _Pool:
    held: dict[int, SlotItem]
    holders: dict[str, int]
    dead: set[str] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)  # numbers another batch claimed since the pool was read
    lock: threading.Lock = field(default_factory=threading.Lock)


class SlotAllocator:
    """One batch's (or one sweep's) view of the pools it claims in; thread-safe."""

    def __init__(
        self,
        fleet: Fleet,
        table: str,
        gone_after_seconds: float,
        alive: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fleet = fleet
        self._table = table
        self._gone_after = gone_after_seconds
        self._alive = set(alive)  # instances known to be live (the batch's own): never checked
        self._clock = clock
        self._pools: dict[str, _Pool] = {}
        self._guard = threading.Lock()
        self._liveness_checked = False

    def known_alive(self, instance_ids: Iterable[str]) -> None:
        with self._guard:
            self._alive |= set(instance_ids)

    def prepare(self, pools: Iterable[str]) -> None:
        """Reads each pool once and checks the lowest holders' liveness in one DescribeInstances."""
        for pool in sorted(set(pools)):
            self._pool(pool)
        self._check_liveness()

    def claim_block(self, pool: str, instance_ids: Sequence[str]) -> None:
        """Numbers for a batch's instances of one pool, lowest free first in the given (launch) order, in one
        transaction per MAX_BLOCK: concurrent batches compete once per block instead of once per instance.
        What a block cannot settle (every attempt lost to others) is left to ``slot_for``."""
        state = self._pool(pool)
        if not self._liveness_checked:
            self._check_liveness()
        with state.lock:
            for start in range(0, len(instance_ids), MAX_BLOCK):
                self._claim_block(pool, state, list(instance_ids[start : start + MAX_BLOCK]))

    def _claim_block(self, pool: str, state: _Pool, instance_ids: list[str]) -> None:
        for _ in range(MAX_CLAIM_ATTEMPTS):
            pending = [i for i in instance_ids if i not in state.holders]
            if not pending:
                return
            candidates = claim_order(state.held, state.dead, state.lost)
            claims = [(*next(candidates), instance_id) for instance_id in pending]
            outcome = self._fleet.claim_slots(
                self._table,
                pool,
                [(slot, instance_id, previous) for slot, previous, instance_id in claims],
                self._clock(),
            )
            if outcome.claimed:
                for slot, previous, instance_id in claims:
                    self._record(state, slot, instance_id, previous)
                return
            state.lost |= outcome.taken
            state.holders.update(outcome.holding)

    def held_by(self, pool: str, instance_id: str) -> int | None:
        """The number this view knows the instance holds in ``pool`` (no call)."""
        with self._guard:
            state = self._pools.get(pool)
        return None if state is None else state.holders.get(instance_id)

    def preview(self, pool: str, instance_ids: Iterable[str]) -> dict[str, int]:
        """The number each instance holds or would get, in this order, without claiming anything."""
        state = self._pool(pool)
        self._check_liveness()
        planned: dict[str, int] = {}
        given: set[int] = set()
        for instance_id in instance_ids:
            if instance_id in state.holders:
                planned[instance_id] = state.holders[instance_id]
                continue
            slot, _ = next(claim_order(state.held, state.dead, given))
            given.add(slot)
            planned[instance_id] = slot
        return planned

    def slot_for(self, pool: str, instance_id: str) -> int:
        """The instance's number in ``pool``: the one it holds, else the lowest it can claim."""
        state = self._pool(pool)
        if not self._liveness_checked:
            self._check_liveness()
        for _ in range(2):  # a second, fresh read of the pool when the first view ran out of luck
            claimed = self._claim(pool, state, instance_id)
            if claimed is not None:
                return claimed
            state = self._reread(pool)
        raise PermanentNamingFailure(f"could not claim a slot in pool {pool!r}: every attempt lost to others")

    def _claim(self, pool: str, state: _Pool, instance_id: str) -> int | None:
        """Claims of one pool run one at a time within the batch: a number a batch mate is trying can turn out
        free again (its claim ends 'already holding'), and a concurrent claim that had skipped it would leave
        a gap. Across batches no such care is needed: a failed transaction writes nothing."""
        with state.lock:
            for _ in range(MAX_CLAIM_ATTEMPTS):
                if instance_id in state.holders:
                    return state.holders[instance_id]
                slot, previous = next(claim_order(state.held, state.dead, state.lost))
                outcome = self._fleet.claim_slot(self._table, pool, slot, instance_id, self._clock(), previous)
                if outcome.claimed:
                    self._record(state, slot, instance_id, previous)
                    return slot
                if outcome.already_holding is not None:
                    state.holders[instance_id] = outcome.already_holding
                    return outcome.already_holding
                state.lost.add(slot)  # claimed by another batch meanwhile: the next candidate is still the lowest
        return None

    def _record(self, state: _Pool, slot: int, instance_id: str, previous: str | None) -> None:
        state.held[slot] = SlotItem(slot, instance_id, self._clock())
        state.holders[instance_id] = slot
        if previous is not None:
            state.holders.pop(previous, None)
            logger.info("slot taken over from a dead holder", extra={"slot": slot, "previous": previous})

    def _pool(self, pool: str) -> _Pool:
        with self._guard:
            state = self._pools.get(pool)
            if state is None:
                state = _Pool(held={}, holders={})
                self._read(pool, state)
                self._pools[pool] = state
            return state

    def _reread(self, pool: str) -> _Pool:
        """A fresh read into the same view (its lock too), keeping what is known of the holders' liveness."""
        state = self._pool(pool)
        with state.lock:
            self._read(pool, state)
        return state

    def _read(self, pool: str, state: _Pool) -> None:
        items = self._fleet.query_pool(self._table, pool)
        state.held = {item.slot: item for item in items}
        state.holders = {item.holder: item.slot for item in items}
        state.lost.clear()

    def _check_liveness(self) -> None:
        """Holders of the lowest numbers, across the pools, in one DescribeInstances; the dead are marked."""
        with self._guard:
            if self._liveness_checked:
                return
            self._liveness_checked = True
            items = sorted(
                (
                    item
                    for state in self._pools.values()
                    for item in state.held.values()
                    if item.holder not in self._alive
                ),
                key=lambda item: item.slot,
            )[:LIVENESS_CHECKS]
        if not items:
            return
        now = self._clock()
        # Only a gone state can prove a recent claim's holder dead (is_dead): while every claim is recent, EC2
        # answers with those alone, not with every live holder of a burst (far less for EC2 to return).
        all_recent = all(now - item.claimed_at <= self._gone_after for item in items)
        described = self._fleet.describe((item.holder for item in items), states=GONE_STATES if all_recent else ())
        dead = {item.holder for item in items if is_dead(item, described, now, self._gone_after)}
        with self._guard:
            for state in self._pools.values():
                state.dead |= dead
