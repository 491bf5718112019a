"""The {slot} allocator against a model: any interleaving of claims, redeliveries and terminations keeps numbers
unique among live instances and hands out the lowest free ones.

The table and EC2 are in-memory doubles with DynamoDB's transaction semantics (tests/support/slot_table.py);
tests/integration/test_slot_race.py and tests/e2e/test_slots.py run the same allocator against the sandbox's DynamoDB.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler.errors import PermanentNamingFailure
from handler.fleet import ClaimOutcome, SlotItem
from handler.slots import SlotAllocator, claim_order
from tests.support.slot_table import POOL, Account

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1_000_000.0


def allocator(account: Account, alive: Iterable[str] = (), now: float = NOW) -> SlotAllocator:
    return SlotAllocator(account, "slots", gone_after_seconds=300, alive=alive, clock=lambda: now)  # type: ignore[arg-type]


def numbered(count: int) -> Account:
    """An account whose instances i-1 .. i-<count> were launched and numbered one by one."""
    account = Account()
    for n in range(1, count + 1):
        account.launch(f"i-{n}")
        allocator(account).slot_for(POOL, f"i-{n}")
    return account


def test_the_first_claims_of_a_pool_are_one_two_three() -> None:
    account = Account()
    batch = allocator(account)
    for instance in ("i-a", "i-b", "i-c"):
        account.launch(instance)
    assert [batch.slot_for(POOL, i) for i in ("i-a", "i-b", "i-c")] == [1, 2, 3]


def test_an_instance_that_holds_a_number_gets_it_again() -> None:
    # GIVEN an instance that claimed 1 in an earlier batch
    account = Account()
    account.launch("i-a")
    allocator(account).slot_for(POOL, "i-a")
    # WHEN its message is redelivered to another batch THEN it gets 1 again, with no write
    account.calls.clear()
    assert allocator(account).slot_for(POOL, "i-a") == 1
    assert "TransactWriteItems" not in account.calls


def test_the_common_case_costs_at_most_two_dynamodb_calls_per_instance() -> None:
    # GIVEN a batch of ten launches into one pool, nobody else claiming
    account = Account()
    instances = [f"i-{n:02d}" for n in range(10)]
    for instance in instances:
        account.launch(instance)
    batch = allocator(account, alive=instances)
    batch.prepare([POOL])
    # WHEN the batch claims its block, then each record asks for its number
    batch.claim_block(POOL, instances)
    numbers = [batch.slot_for(POOL, instance) for instance in instances]
    # THEN one Query for the pool and one transaction for all ten; no liveness check of the batch's own
    assert numbers == list(range(1, 11))
    assert account.calls.count("Query") == 1
    assert account.calls.count("TransactWriteItems") == 1
    assert "DescribeInstances" not in account.calls


def test_a_block_lost_to_another_batch_moves_on_to_the_next_free_numbers() -> None:
    # GIVEN two batches that read the empty pool at the same time
    account = Account()
    first, second = ["i-a1", "i-a2"], ["i-b1", "i-b2"]
    for instance in first + second:
        account.launch(instance)
    batches = [allocator(account, alive=first), allocator(account, alive=second)]
    for batch in batches:
        batch.prepare([POOL])
    # WHEN both claim blocks: the second loses 1 and 2 to the first
    batches[0].claim_block(POOL, first)
    batches[1].claim_block(POOL, second)
    # THEN the second gets 3 and 4, in two transactions
    assert [batches[1].slot_for(POOL, i) for i in second] == [3, 4]
    assert account.calls.count("TransactWriteItems") == 3


def test_numbers_of_terminated_instances_are_taken_over_lowest_first() -> None:
    # GIVEN five numbered instances, of which 2 and 4 terminated
    account = numbered(5)
    account.terminate("i-2")
    account.terminate("i-4")
    # WHEN three new instances are numbered
    later = ["i-new1", "i-new2", "i-new3"]
    for instance in later:
        account.launch(instance)
    batch = allocator(account, alive=later)
    batch.prepare([POOL])
    # THEN they get 2, 4 and 6
    assert [batch.slot_for(POOL, i) for i in later] == [2, 4, 6]


def test_a_burst_asks_ec2_only_for_holders_that_are_gone() -> None:
    # GIVEN a pool whose numbers were all claimed moments ago (a scale-out under way), one holder terminated
    account = numbered(3)
    account.terminate("i-2")
    account.launch("i-new")
    # WHEN the next batch checks the holders' liveness
    account.calls.clear()
    batch = allocator(account, alive=["i-new"])
    batch.prepare([POOL])
    # THEN its one DescribeInstances asks only for holders in a gone state, and the terminated one's number is reused
    assert [c for c in account.calls if c.startswith("DescribeInstances")] == [
        "DescribeInstances ['shutting-down', 'terminated']"
    ]
    assert batch.slot_for(POOL, "i-new") == 2


def test_an_old_claim_whose_holder_ec2_no_longer_knows_is_taken_over() -> None:
    # GIVEN a number claimed longer ago than GONE_AFTER_SECONDS by an instance EC2 no longer lists at all
    account = Account()
    account.launch("i-vanished")
    allocator(account, now=NOW - 301).slot_for(POOL, "i-vanished")
    del account.states["i-vanished"]
    account.launch("i-new")
    # WHEN a batch checks the holders' liveness now
    account.calls.clear()
    batch = allocator(account, alive=["i-new"])
    batch.prepare([POOL])
    # THEN it reads every holder (absence counts only for old claims) and the vanished holder's number is reused
    assert [c for c in account.calls if c.startswith("DescribeInstances")] == ["DescribeInstances"]
    assert batch.slot_for(POOL, "i-new") == 1


def test_claim_order_skips_live_holders_and_numbers_in_flight() -> None:
    held = {1: SlotItem(1, "a", 0), 2: SlotItem(2, "dead", 0), 4: SlotItem(4, "b", 0)}
    order = claim_order(held, {"dead"}, skip=[3])
    assert [next(order) for _ in range(3)] == [(2, "dead"), (5, None), (6, None)]


def test_an_allocator_that_keeps_losing_says_so() -> None:
    class AlwaysTaken(Account):
        def claim_slot(self, *args: object) -> ClaimOutcome:  # type: ignore[override]
            return ClaimOutcome(False)

    account = AlwaysTaken()
    account.launch("i-a")
    with pytest.raises(PermanentNamingFailure, match="every attempt lost"):
        allocator(account).slot_for(POOL, "i-a")


# --------------------------------------------------------------------------- the model


@st.composite
def schedules(draw: st.DrawFn) -> list[tuple[list[list[str]], list[int], list[str], list[int]]]:
    """Rounds: concurrent batches (each a list of launches and redeliveries), the order their claims run
    in, the instances terminated after the round, and the batches that claim their block first (in order)."""
    rounds = []
    launched: list[str] = []
    for round_number in range(draw(st.integers(1, 5))):
        batches: list[list[str]] = []
        for batch_number in range(draw(st.integers(1, 3))):
            new = [f"i-{round_number}-{batch_number}-{n}" for n in range(draw(st.integers(0, 4)))]
            redelivered = draw(st.lists(st.sampled_from(launched), max_size=2, unique=True)) if launched else []
            batches.append(new + redelivered)
            launched += new
        claims = [b for b, batch in enumerate(batches) for _ in batch]
        order = draw(st.permutations(claims))
        blocks = draw(st.lists(st.sampled_from(range(len(batches))), max_size=len(batches), unique=True))
        terminated = draw(st.lists(st.sampled_from(launched), max_size=3, unique=True)) if launched else []
        rounds.append((batches, list(order), terminated, blocks))
    return rounds


@PROPERTY
@given(schedules())
def test_any_interleaving_keeps_numbers_unique_and_lowest(rounds: list) -> None:
    account = Account()
    for batches, order, terminated, draw_blocks in rounds:
        for batch in batches:
            for instance in batch:
                if instance not in account.states:
                    account.launch(instance)
        # every batch of the round reads the pools before any of them claims: the stalest views possible
        live_before = account.live_slots()
        free_before = _free_numbers(account, live_before)
        # a batch knows its own live instances (described at its start); a terminated one is never numbered
        allocators = [allocator(account, alive=[i for i in batch if account.live(i)]) for batch in batches]
        for batch_allocator in allocators:
            batch_allocator.prepare([POOL])
        # and some batches claim their block first (the queue path's start), in an interleaved order too
        for b in draw_blocks:
            allocators[b].claim_block(POOL, [i for i in batches[b] if account.live(i)])
        pending = [list(batch) for batch in batches]
        for b in order:
            instance = pending[b].pop(0)
            if not account.live(instance):
                continue  # the queue path stops at InstanceGone before any claim
            slot = allocators[b].slot_for(POOL, instance)
            # an instance already numbered keeps its number
            assert live_before.get(instance, slot) == slot
        # THEN no two live instances share a number
        live_after = account.live_slots()
        assert len(set(live_after.values())) == len(live_after)
        # AND the newcomers of the round got exactly the lowest numbers that were free when it began
        newcomers = {i: s for i, s in live_after.items() if i not in live_before}
        assert sorted(newcomers.values()) == free_before[: len(newcomers)]
        for instance in terminated:
            account.terminate(instance)


def _free_numbers(account: Account, live: dict[str, int]) -> list[int]:
    taken = set(live.values())
    return [n for n in range(1, len(account.slots) + 50) if n not in taken]
