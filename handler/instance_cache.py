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

    def get(self, instance_id: str) -> InstanceRecord | None:
        return self._rounds.known(instance_id)

    def prefetch(self, instance_ids: Iterable[str]) -> None:
        wanted = set(instance_ids)
        self._rounds.seed(wanted, self._fleet.describe(wanted))

    def refresh(self, instance_id: str) -> InstanceRecord | None:
        """Fresh facts for one instance, from a describe round that started after this call."""
        return self._rounds.ask(instance_id)
