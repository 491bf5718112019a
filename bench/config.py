"""What a benchmark run is configured with (no sandbox import: the CLI reads it to build its help)."""

from __future__ import annotations

from dataclasses import dataclass

ASG_NAMER = "asg-namer"
BASELINE = "baseline"
SLOT_CANDIDATE = "asg-namer {slot}"  # asg-namer with a {slot} template (issue 13's scenario)
#: ASSUMPTION: AWS does not publish Auto Scaling's API bucket; 40 burst + 8/s is the sandbox's guess.
ASSUMED_AUTOSCALING_BUCKET = (40.0, 8.0)
#: A generous Auto Scaling bucket, under which CreateTags' documented 100 + 10/s binds instead.
GENEROUS_AUTOSCALING_BUCKET = (200.0, 20.0)


def bucket_label(bucket: tuple[float, float]) -> str:
    burst, refill = bucket
    return f"{burst:g}+{refill:g}/s"


@dataclass(frozen=True)
class SweepConfig:
    """The sweep scenario of issue 12: ``groups`` groups of ``per_group`` InService instances, a share unnamed."""

    groups: int = 100
    per_group: int = 50
    unnamed_share: float = 0.01
    function_timeout: float = 60.0  # the stack's Timeout: the schedule invokes the same function

    @property
    def instances(self) -> int:
        return self.groups * self.per_group

    @property
    def unnamed(self) -> int:
        return round(self.instances * self.unnamed_share)


@dataclass(frozen=True)
class BenchConfig:
    """Every knob of a benchmark run; the same trigger settings, seeds and buckets for every candidate."""

    sizes: tuple[int, ...] = (10, 100, 1000)
    candidates: tuple[str, ...] = (ASG_NAMER, BASELINE)
    seeds: tuple[int, ...] = (1, 2, 3)
    autoscaling_buckets: tuple[tuple[float, float], ...] = (ASSUMED_AUTOSCALING_BUCKET,)
    slot_sizes: tuple[int, ...] = ()  # N of the {slot} scenario (asg-namer only); empty: not run
    sweep: SweepConfig | None = None  # the sweep scenario; None: not run
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
    # Each execution environment a process of its own (as on Lambda); False: threads of the benchmark's process
    process_environments: bool = True

    def run_timeout_for(self, floor_seconds: float) -> float:
        """Long enough for a slow candidate to show how slow it is, short enough to finish in minutes."""
        if self.run_timeout is not None:
            return self.run_timeout
        return max(60.0, 2 * floor_seconds + 60.0)


QUICK = BenchConfig(sizes=(10, 50), seeds=(1,), rate_scale=20.0, cold_start_repetitions=3, run_timeout=45.0)
