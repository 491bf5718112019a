"""What the sandbox's delays are configured with: network latency per call, and delays that depend on
an instance's age (private IP assigned late, eventual consistency). :class:`sandbox.faults.FaultControls`
holds one of each and applies them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LatencyConfig:
    """Per call: ``base_ms`` + uniform(0, ``jitter_ms``) + ``spike_ms`` with ``spike_probability``.
    ``services`` limits it to some services (None: all)."""

    base_ms: float = 0.0
    jitter_ms: float = 0.0
    spike_probability: float = 0.0
    spike_ms: float = 0.0
    services: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if min(self.base_ms, self.jitter_ms, self.spike_ms) < 0:
            raise ValueError("latency must not be negative")
        if not 0.0 <= self.spike_probability <= 1.0:
            raise ValueError("spike_probability must be within [0, 1]")

    @property
    def enabled(self) -> bool:
        return self.base_ms > 0 or self.jitter_ms > 0 or (self.spike_probability > 0 and self.spike_ms > 0)


@dataclass(frozen=True)
class InstanceDelay:
    """Applies to instances younger than ``seconds`` sandbox-seconds, optionally only to the ids in
    ``instance_ids`` and/or those for which ``predicate(instance_id)`` is true (it must be stable for
    a given id, e.g. a hash of it)."""

    seconds: float = 0.0
    instance_ids: frozenset[str] | None = None
    predicate: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError("delay must not be negative")

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def applies(self, instance_id: str, age: float) -> bool:
        if not self.enabled or age >= self.seconds:
            return False
        if self.instance_ids is not None and instance_id not in self.instance_ids:
            return False
        return self.predicate is None or bool(self.predicate(instance_id))

    def describe(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "instance_ids": sorted(self.instance_ids) if self.instance_ids is not None else None,
            "predicate": getattr(self.predicate, "__name__", repr(self.predicate)) if self.predicate else None,
        }
