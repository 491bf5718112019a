"""InstanceCache: one DescribeInstances serves every record of a batch that waits at the same time."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, cast

import pytest

from handler.fleet import Fleet, InstanceRecord, TransientAwsError
from handler.instance_cache import InstanceCache


def _record(instance_id: str, ip: str | None = "10.0.1.2") -> InstanceRecord:
    return InstanceRecord(instance_id, "pending", ip, "us-east-1a", {}, (), (), None)


class FakeFleet:
    """Counts describe calls; can hold a call open so others pile up behind it."""

    def __init__(self, known: dict[str, InstanceRecord], gate: threading.Event | None = None) -> None:
        self.known = known
        self.calls: list[set[str]] = []
        self.gate = gate
        self.entered = threading.Event()
        self.error: Exception | None = None

    def describe(self, instance_ids: Iterable[str]) -> dict[str, InstanceRecord]:
        ids = set(instance_ids)
        self.calls.append(ids)
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(timeout=10)
        if self.error is not None:
            raise self.error
        return {i: self.known[i] for i in ids if i in self.known}


def _lookup(fleet: FakeFleet) -> InstanceCache:
    return InstanceCache(cast(Fleet, fleet))


def test_prefetch_answers_get_without_more_calls() -> None:
    # GIVEN a batch of three instances, one unknown to EC2
    fleet = FakeFleet({"i-00000001": _record("i-00000001"), "i-00000002": _record("i-00000002")})
    lookup = _lookup(fleet)
    # WHEN the batch is prefetched
    lookup.prefetch(["i-00000001", "i-00000002", "i-00000003"])
    # THEN one call was made and get() answers from it
    assert len(fleet.calls) == 1
    assert lookup.get("i-00000001") == _record("i-00000001")
    assert lookup.get("i-00000003") is None
    assert len(fleet.calls) == 1


def test_concurrent_refreshes_share_describe_rounds() -> None:
    # GIVEN eight records that all need fresh facts while a describe is in flight
    ids = [f"i-0000000{n}" for n in range(8)]
    gate = threading.Event()
    fleet = FakeFleet({i: _record(i) for i in ids}, gate=gate)
    lookup = _lookup(fleet)
    results: dict[str, Any] = {}

    def refresh(instance_id: str) -> None:
        results[instance_id] = lookup.refresh(instance_id)

    first = threading.Thread(target=refresh, args=(ids[0],))
    first.start()
    assert fleet.entered.wait(5)
    others = [threading.Thread(target=refresh, args=(i,)) for i in ids[1:]]
    for thread in others:
        thread.start()
    # WHEN the first describe returns
    gate.set()
    for thread in [first, *others]:
        thread.join(10)
    # THEN everyone got fresh facts from at most two rounds (the first and one for the late comers)
    assert results == {i: _record(i) for i in ids}
    assert len(fleet.calls) <= 2
    assert set().union(*fleet.calls) == set(ids)


def test_refresh_forgets_an_instance_ec2_no_longer_reports() -> None:
    # GIVEN an instance seen at prefetch that EC2 no longer returns
    fleet = FakeFleet({"i-00000001": _record("i-00000001")})
    lookup = _lookup(fleet)
    lookup.prefetch(["i-00000001"])
    del fleet.known["i-00000001"]
    # WHEN it is refreshed THEN it is reported missing
    assert lookup.refresh("i-00000001") is None
    assert lookup.get("i-00000001") is None


def test_a_failed_round_raises_for_its_caller() -> None:
    # GIVEN EC2 throttling the describe
    fleet = FakeFleet({})
    fleet.error = TransientAwsError("RequestLimitExceeded")
    lookup = _lookup(fleet)
    # WHEN a record refreshes THEN it sees the transient error (and may retry)
    with pytest.raises(TransientAwsError):
        lookup.refresh("i-00000001")
    # AND a later round works again
    fleet.error = None
    fleet.known["i-00000001"] = _record("i-00000001")
    assert lookup.refresh("i-00000001") == _record("i-00000001")
