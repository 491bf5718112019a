"""Sandbox time: real time multiplied by a scale, so hook timeouts can pass quickly in tests."""

from __future__ import annotations

import threading
import time


class SandboxClock:
    """Seconds on the sandbox's clock; ``scale=60`` makes a 60-second heartbeat timeout last one real second."""

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError(f"clock scale must be positive, got {scale}")
        self._lock = threading.Lock()
        self._scale = scale
        self._real_origin = time.monotonic()
        self._sandbox_origin = time.time()

    @property
    def scale(self) -> float:
        return self._scale

    def set_scale(self, scale: float) -> None:
        """Changes speed from now on without making sandbox time jump."""
        if scale <= 0:
            raise ValueError(f"clock scale must be positive, got {scale}")
        with self._lock:
            now = self._now_locked()
            self._real_origin, self._sandbox_origin, self._scale = time.monotonic(), now, scale

    def now(self) -> float:
        """Epoch seconds as the sandbox sees them."""
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> float:
        return self._sandbox_origin + (time.monotonic() - self._real_origin) * self._scale

    def real_seconds(self, sandbox_seconds: float) -> float:
        """How long a span of sandbox time lasts in real time."""
        return sandbox_seconds / self._scale
