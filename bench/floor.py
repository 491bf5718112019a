"""The token-bucket floor: how soon AWS's API rate limits alone would let a burst of N instances be released.

Pure arithmetic on the bucket numbers (no sandbox started), shared by the runner, the targets and the chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from bench.config import ASG_NAMER, BASELINE, SLOT_CANDIDATE
from sandbox.throttling import AUTOSCALING, EC2_CREATE_TAGS, EC2_DELETE_TAGS, EC2_NON_MUTATING, BucketSpec

# What each candidate's path calls once per instance, by bucket (the floor counts only these).
PATH_BUCKETS = {
    ASG_NAMER: (EC2_CREATE_TAGS, AUTOSCALING),
    SLOT_CANDIDATE: (EC2_CREATE_TAGS, AUTOSCALING),
    BASELINE: (EC2_NON_MUTATING, EC2_DELETE_TAGS, EC2_CREATE_TAGS, AUTOSCALING),
}


def floor_seconds(n: int, candidate: str, specs: Mapping[str, BucketSpec], rate_scale: float) -> dict[str, float]:
    """Seconds the token buckets alone need for N instances: one call per instance from each bucket of
    the path; a bucket gives ``burst`` at once, then ``refill`` per second (times ``rate_scale``)."""
    floors = {}
    for name in PATH_BUCKETS[candidate]:
        spec = specs[name]
        refill = spec.refill_per_second * rate_scale
        floors[name] = max(0.0, (n - spec.burst) / refill) if refill > 0 else math.inf
    return floors


def floor_releases(seconds: float, n: int, specs: Mapping[str, BucketSpec], rate_scale: float) -> float:
    """How many of N instances the buckets of asg-namer's path allow to be released ``seconds`` after the burst."""
    path = [specs[name] for name in PATH_BUCKETS[ASG_NAMER]]
    return float(min(n, *(spec.burst + spec.refill_per_second * rate_scale * seconds for spec in path)))
