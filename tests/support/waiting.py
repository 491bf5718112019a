"""Waiting for a condition without ever asserting on elapsed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    timeout: float = 300.0,
    interval: float = 0.05,
    retrying_on: tuple[type[Exception], ...] = (),
) -> T:
    """Polls ``probe`` until it returns something truthy and returns that. A probe that raises one of
    ``retrying_on`` is asked again. After ``timeout`` seconds raises AssertionError with the last value or
    error: the timeout only bounds a failing test, so it is generous on purpose."""
    deadline = time.monotonic() + timeout
    while True:
        last: Any
        try:
            last = probe()
        except retrying_on as error:
            last = error
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")
        time.sleep(interval)
