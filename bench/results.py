"""What a benchmark run measured, as plain data: one :class:`RunResult` per (bucket, seed, N, candidate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunResult:
    candidate: str  # asg-namer, baseline, or asg-namer {slot}
    instances: int
    seed: int
    autoscaling_bucket: str  # e.g. "40+8/s": the Auto Scaling bucket the run had (the others are documented)
    release_seconds: float | None  # first launch -> last completion; None when nothing completed
    floor_seconds: float  # max over the asg-namer path's buckets (the problem's floor, same for both)
    floor_by_bucket: dict[str, float]
    ratio_to_floor: float | None
    p50_seconds: float | None
    p99_seconds: float | None
    calls_per_instance: dict[str, float]  # accepted handler calls (ec2 + autoscaling) by action, and "total"
    attempts_per_instance: dict[str, float]  # the same with rejected (throttled) attempts included
    calls_by_service: dict[str, float]  # accepted handler calls per instance by service (ec2, autoscaling, dynamodb)
    dynamodb_calls_per_instance: dict[str, float]  # every request by action, failed ones apart (the {slot} scenario)
    sqs_calls_per_instance: float
    throttled: int
    throttled_by_action: dict[str, int]
    records_retried: int
    invocations: int
    released: int
    in_service: int
    unnamed: int  # released InService without a Name tag
    duplicate_names: int  # instances released with a Name another released instance of the run also has
    lost: int  # still Pending:Wait at the end
    abandoned: int  # Terminated instead of released
    dlq: int
    timed_out: bool
    wall_seconds: float
    # How hard the emulator itself worked: mean time a handler call spent in the sandbox beyond the injected
    # latency (waiting for moto's lock, moto's own work), and this process's CPU seconds per wall second
    # (one Python process runs the sandbox and every execution environment: about 1.0 means it was CPU-bound).
    sandbox_overhead_ms: float
    process_cpu_share: float
    where_time_goes: dict[str, Any]  # bench.timeline.where_time_goes
    release_curve: list[float]  # seconds since the first launch at which each instance was released
    timelines: list[dict[str, Any]] = field(default_factory=list)  # bench.timeline.InstanceTimeline, per instance
    baseline_over_asg_namer: float | None = None
    stragglers: int = 0  # invocations still running when the next run had to start (their calls may count there)
    call_ms_by_action: dict[str, float] = field(default_factory=dict)  # mean ms per accepted call, by action
    problems_logged: dict[str, int] = field(default_factory=dict)  # the function's warnings and errors, by message

    @property
    def key(self) -> tuple[str, int, int]:
        """(bucket, seed, N): the runs one comparison is made within."""
        return (self.autoscaling_bucket, self.seed, self.instances)


@dataclass
class BenchResults:
    settings: dict[str, Any]
    runs: list[RunResult] = field(default_factory=list)
    cold_start: dict[str, Any] = field(default_factory=dict)
    cold_path: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, Any] = field(default_factory=dict)
