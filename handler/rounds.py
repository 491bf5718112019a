"""Shared rounds: many record threads ask for keys, one AWS call per round answers all of them.

A batch's records run concurrently and often wait for the same kind of fact at the same time (fresh
instance facts while IPs appear, which instances already carry a name). Asking one by one would cost a
call per record; a round takes every key asked so far, makes one call, and hands each waiter its answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class SharedRounds(Generic[K, V]):
    """``fetch(keys)`` answers a round; a key it leaves out has no value (None to the asker)."""

    def __init__(self, fetch: Callable[[set[K]], Mapping[K, V]]) -> None:
        self._fetch = fetch
        self._cond = threading.Condition()
        self._known: dict[K, V] = {}
        self._wanted: set[K] = set()
        self._running = False
        self._generation = 0
        self._answered_in: dict[K, int] = {}
        self._failures: dict[int, Exception] = {}

    def known(self, key: K) -> V | None:
        """The last answer for ``key``, without asking AWS."""
        with self._cond:
            return self._known.get(key)

    def answered(self, key: K) -> bool:
        with self._cond:
            return key in self._answered_in

    def seed(self, keys: Iterable[K], answers: Mapping[K, V]) -> None:
        """Answers obtained elsewhere (the batch's first call) count as a round for ``keys``."""
        with self._cond:
            self._generation += 1
            self._record(set(keys), answers)

    def ask(self, key: K) -> V | None:
        """A fresh answer for ``key``: from a round that started after this call. A failed round's error
        is raised in every thread that waited for it; each decides for itself."""
        with self._cond:
            self._wanted.add(key)
            asked_at = self._generation
            while True:
                answered = self._answered_in.get(key, -1)
                if answered > asked_at:
                    if answered in self._failures:
                        raise self._failures[answered]
                    return self._known.get(key)
                if not self._running:
                    self._running = True
                    keys, self._wanted = self._wanted, set()
                    break
                self._cond.wait()
        answers: Mapping[K, V] = {}
        failure: Exception | None = None
        try:
            answers = self._fetch(keys)
        except Exception as error:  # handed to every waiter of this round
            failure = error
        with self._cond:
            self._generation += 1
            self._record(keys, answers)
            if failure is not None:
                self._failures[self._generation] = failure
            self._running = False
            self._cond.notify_all()
        if failure is not None:
            raise failure
        return answers.get(key)

    def _record(self, keys: set[K], answers: Mapping[K, V]) -> None:
        for key in keys:
            self._answered_in[key] = self._generation
            if key in answers:
                self._known[key] = answers[key]
            else:
                self._known.pop(key, None)
