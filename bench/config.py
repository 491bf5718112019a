"""What a benchmark run is configured with (no sandbox import: the CLI reads it to build its help)."""

from __future__ import annotations

from dataclasses import dataclass

ASG_NAMER = "asg-namer"
BASELINE = "baseline"


@dataclass(frozen=True)
class BenchConfig:
    """Every knob of a benchmark run; the same trigger settings are used for every candidate."""

    sizes: tuple[int, ...] = (10, 100, 1000)
    candidates: tuple[str, ...] = (ASG_NAMER, BASELINE)
    latency_ms: float = 30.0
    rate_scale: float = 1.0  # AWS's numbers; raise it to make large bursts finish sooner
    batch_size: int = 10
    batching_window_seconds: float = 1.0
    maximum_concurrency: int = 10
    function_timeout: float = 60.0
    visibility_timeout: int = 60
    heartbeat_timeout: int = 300
    run_timeout: float | None = None  # None: derived from the floor (see run_timeout_for)
    cold_start_repetitions: int = 5
    measure_cold_start: bool = True
    seed: int = 7

    def run_timeout_for(self, floor_seconds: float) -> float:
        """Long enough for a slow candidate to show how slow it is, short enough to finish in minutes."""
        if self.run_timeout is not None:
            return self.run_timeout
        return max(60.0, 2 * floor_seconds + 60.0)


QUICK = BenchConfig(sizes=(10, 50), rate_scale=20.0, cold_start_repetitions=3, run_timeout=45.0)
