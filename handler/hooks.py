"""Which launch hooks each group has, as Auto Scaling reports them (never as a message claims).

A message names a group and a hook and carries the hook's metadata, and anyone allowed to send to the
queue can write one. The template and the hook to complete are therefore taken from DescribeLifecycleHooks,
cached per execution environment for a few minutes: one call per group per environment in the common
case, and again when a message names a hook the cache does not know (it was just created) or carries a
template the cached hook does not (it was just changed), at most once per REFRESH_SECONDS per group.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from handler.fleet import Fleet, HookRecord

HOOK_CACHE_SECONDS = 300.0
REFRESH_SECONDS = 2.0


@dataclass
class _Entry:
    hooks: list[HookRecord]
    read_at: float


class HookDirectory:
    """Launch hooks per group; thread-safe (a batch's records ask concurrently), one read per group at a time."""

    def __init__(
        self, fleet: Fleet, ttl: float = HOOK_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fleet = fleet
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def hooks(self, group: str) -> list[HookRecord]:
        """The group's launch hooks, from the cache while it is younger than the TTL."""
        with self._lock_of(group):
            entry = self._entries.get(group)
            if entry is None or self._clock() - entry.read_at >= self._ttl:
                entry = self._read(group)
            return list(entry.hooks)

    def hook(self, group: str, name: str, stale: Callable[[HookRecord], bool] = lambda _: False) -> HookRecord | None:
        """The launch hook ``name`` of ``group``, read again when unknown or ``stale`` (rate-limited)."""
        with self._lock_of(group):
            entry = self._entries.get(group)
            if entry is None or self._clock() - entry.read_at >= self._ttl:
                entry = self._read(group)
            found = _named(entry.hooks, name)
            if (found is None or stale(found)) and self._clock() - entry.read_at >= REFRESH_SECONDS:
                found = _named(self._read(group).hooks, name)
            return found

    def served_hook(self, group: str, queue_arn: str | None) -> HookRecord | None:
        """The hook through which this deployment serves ``group``: the launch hook that notifies its queue,
        else one without a target (delivered by an EventBridge rule); by name, so the choice is stable.
        Without a queue (the CLI without --stack) the group's first launch hook: it names the template only."""
        hooks = sorted(self.hooks(group), key=lambda hook: hook.name)
        if queue_arn is None:
            return hooks[0] if hooks else None
        candidates = [h for h in hooks if h.target_arn == queue_arn] or [h for h in hooks if h.target_arn is None]
        return candidates[0] if candidates else None

    def _read(self, group: str) -> _Entry:
        entry = _Entry(self._fleet.launch_hooks(group), self._clock())
        self._entries[group] = entry
        return entry

    def _lock_of(self, group: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(group, threading.Lock())


def _named(hooks: list[HookRecord], name: str) -> HookRecord | None:
    return next((hook for hook in hooks if hook.name == name), None)
