"""Instance facts for one batch: one DescribeInstances up front, then shared refresh rounds."""

from __future__ import annotations

from collections.abc import Iterable

from handler.fleet import Fleet, InstanceRecord
from handler.rounds import SharedRounds


class InstanceCache:
    """The batch's view of its instances: fetched once up front, refreshed in shared rounds.

    Reads go through the Fleet (the only module that calls AWS); this class only decides when. When
    several records wait (for an IP, for EC2 to see a new instance) at the same time, one
    DescribeInstances answers all of them instead of one call per record.
    """

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._rounds: SharedRounds[str, InstanceRecord] = SharedRounds(fleet.describe)
        self._wanted: set[str] = set()

    def get(self, instance_id: str) -> InstanceRecord | None:
        return self._rounds.known(instance_id)

    def prefetch(self, instance_ids: Iterable[str]) -> None:
        self._wanted = set(instance_ids)
        self._rounds.seed(self._wanted, self._fleet.describe(self._wanted))

    def live_ids(self) -> set[str]:
        """The prefetched instances EC2 knows and that are not going away."""
        return {i for i in self._wanted if (record := self._rounds.known(i)) is not None and not record.is_gone}

    def refresh(self, instance_id: str) -> InstanceRecord | None:
        """Fresh facts for one instance, from a describe round that started after this call."""
        return self._rounds.ask(instance_id)
