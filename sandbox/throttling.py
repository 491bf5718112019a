"""API rate limits as AWS enforces them: a token bucket per account, Region and bucket name.

Which bucket a call draws from (:func:`bucket_for`) and the documented numbers (:data:`EC2_BUCKETS`)
are AWS facts; :class:`TokenBucket` is the arithmetic. :class:`sandbox.faults.FaultControls` decides
when throttling is on and keeps the buckets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sandbox.api_call import ApiCall, Rejection

EC2_NON_MUTATING = "ec2:non-mutating"
EC2_UNFILTERED_DESCRIBE_INSTANCES = "ec2:unfiltered-describe-instances"
EC2_MUTATING = "ec2:mutating"
EC2_CREATE_TAGS = "ec2:CreateTags"
EC2_DELETE_TAGS = "ec2:DeleteTags"
AUTOSCALING = "autoscaling"


@dataclass(frozen=True)
class BucketSpec:
    """A token bucket: ``burst`` tokens at most, ``refill_per_second`` tokens added per second."""

    burst: float
    refill_per_second: float

    def __post_init__(self) -> None:
        if self.burst < 0 or self.refill_per_second < 0:
            raise ValueError(f"bucket numbers must not be negative: {self}")


#: EC2's documented request-rate buckets (EC2 API throttling guide), per account and Region.
EC2_BUCKETS: Mapping[str, BucketSpec] = MappingProxyType(
    {
        EC2_NON_MUTATING: BucketSpec(burst=100, refill_per_second=20),
        EC2_UNFILTERED_DESCRIBE_INSTANCES: BucketSpec(burst=50, refill_per_second=10),
        EC2_MUTATING: BucketSpec(burst=50, refill_per_second=5),
        EC2_CREATE_TAGS: BucketSpec(burst=100, refill_per_second=10),
        EC2_DELETE_TAGS: BucketSpec(burst=100, refill_per_second=10),
    }
)
#: ASSUMPTION: Auto Scaling shares one bucket per account and Region, but AWS does not publish its
#: size or refill rate; 40 / 8 per second is our guess. Override with ``set_throttling(buckets=...)``.
AUTOSCALING_BUCKET = BucketSpec(burst=40, refill_per_second=8)
DEFAULT_BUCKETS: Mapping[str, BucketSpec] = MappingProxyType({**EC2_BUCKETS, AUTOSCALING: AUTOSCALING_BUCKET})

EC2_THROTTLED = Rejection(503, "RequestLimitExceeded", "Request limit exceeded.")
AUTOSCALING_THROTTLED = Rejection(400, "Throttling", "Rate exceeded")
_NON_MUTATING_PREFIXES = ("Describe", "List", "Get", "Search")


def bucket_for(call: ApiCall) -> str | None:
    """The bucket a call draws from, or None when the service is not throttled (SQS, Logs, ...)."""
    if call.service == "autoscaling":
        return AUTOSCALING
    if call.service != "ec2":
        return None
    if call.action == "CreateTags":
        return EC2_CREATE_TAGS
    if call.action == "DeleteTags":
        return EC2_DELETE_TAGS
    if call.action == "DescribeInstances" and not _narrowed(call.params):
        return EC2_UNFILTERED_DESCRIBE_INSTANCES
    if call.action.startswith(_NON_MUTATING_PREFIXES):
        return EC2_NON_MUTATING
    return EC2_MUTATING


def throttled(bucket: str) -> Rejection:
    """The error a throttled call of that bucket gets."""
    return AUTOSCALING_THROTTLED if bucket == AUTOSCALING else EC2_THROTTLED


def _narrowed(params: Mapping[str, list[str]]) -> bool:
    """True when a DescribeInstances asks for ids, filters or a page (MaxResults / NextToken)."""
    return any(key.startswith(("InstanceId.", "Filter.")) or key in ("MaxResults", "NextToken") for key in params)


class TokenBucket:
    """Refills continuously on the caller's clock, scaled by ``rate_scale``; one call takes one token."""

    __slots__ = ("spec", "tokens", "updated")

    def __init__(self, spec: BucketSpec, now: float) -> None:
        self.spec = spec
        self.tokens = float(spec.burst)
        self.updated = now

    def take(self, now: float, rate_scale: float) -> bool:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.spec.burst), self.tokens + elapsed * self.spec.refill_per_second * rate_scale)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
