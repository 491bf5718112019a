"""What a benchmark run measured, as plain data: one :class:`RunResult` per (candidate, N)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunResult:
    candidate: str
    instances: int
    release_seconds: float | None  # first launch -> last completion; None when nothing completed
    floor_seconds: float  # max over the asg-namer path's buckets (the problem's floor, same for both)
    floor_by_bucket: dict[str, float]
    ratio_to_floor: float | None
    p50_seconds: float | None
    p99_seconds: float | None
    calls_per_instance: dict[str, float]  # accepted handler calls (ec2 + autoscaling) by action, and "total"
    attempts_per_instance: dict[str, float]  # the same with rejected (throttled) attempts included
    sqs_calls_per_instance: float
    throttled: int
    throttled_by_action: dict[str, int]
    records_retried: int
    invocations: int
    released: int
    in_service: int
    unnamed: int  # released InService without a Name tag
    lost: int  # still Pending:Wait at the end
    abandoned: int  # Terminated instead of released
    dlq: int
    timed_out: bool
    wall_seconds: float
    baseline_over_asg_namer: float | None = None


@dataclass
class BenchResults:
    settings: dict[str, Any]
    runs: list[RunResult] = field(default_factory=list)
    cold_start: dict[str, Any] = field(default_factory=dict)
