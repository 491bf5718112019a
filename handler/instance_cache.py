"""Instance facts for one batch: one DescribeInstances up front, then shared refresh rounds."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from handler.fleet import Fleet, InstanceRecord


class InstanceCache:
    """The batch's view of its instances: fetched once up front, refreshed in shared rounds.

    Reads go through the Fleet (the only module that calls AWS); this class only decides when. When
    several records wait (for an IP, for EC2 to see a new instance) at the same time, one
    DescribeInstances answers all of them instead of one call per record.
    """

    def __init__(self, fleet: Fleet, records: dict[str, InstanceRecord] | None = None) -> None:
        self._fleet = fleet
        self._records: dict[str, InstanceRecord] = dict(records or {})
        self._cond = threading.Condition()
        self._wanted: set[str] = set()
        self._refreshing = False
        self._generation = 0
        self._seen_in: dict[str, int] = {}
        self._failures: dict[int, Exception] = {}

    def get(self, instance_id: str) -> InstanceRecord | None:
        with self._cond:
            return self._records.get(instance_id)

    def prefetch(self, instance_ids: Iterable[str]) -> None:
        found = self._fleet.describe(instance_ids)
        with self._cond:
            self._records.update(found)

    def refresh(self, instance_id: str) -> InstanceRecord | None:
        """Fresh facts for one instance, from a describe round that started after this call."""
        with self._cond:
            self._wanted.add(instance_id)
            asked_at = self._generation
            while True:
                seen = self._seen_in.get(instance_id, -1)
                if seen > asked_at:
                    if seen in self._failures:
                        raise self._failures[seen]
                    return self._records.get(instance_id)
                if not self._refreshing:
                    self._refreshing = True
                    round_ids, self._wanted = self._wanted, set()
                    break
                self._cond.wait()
        found: dict[str, InstanceRecord] = {}
        failure: Exception | None = None
        try:
            found = self._fleet.describe(round_ids)
        except Exception as error:  # handed to every waiter of this round, each decides for itself
            failure = error
        with self._cond:
            self._generation += 1
            for rid in round_ids:
                self._seen_in[rid] = self._generation
                if rid in found:
                    self._records[rid] = found[rid]
                else:
                    self._records.pop(rid, None)
            if failure is not None:
                self._failures[self._generation] = failure
            self._refreshing = False
            self._cond.notify_all()
        if failure is not None:
            raise failure
        return found.get(instance_id)
