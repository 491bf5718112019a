"""Per-instance timelines of a scale-out, read from what the sandbox already records, and where time goes.

Every point is on the sandbox clock, in seconds since the run's first launch:

- ``launched`` and ``completed``: the lifecycle journal (launch event; leaving ``Pending:Wait``);
- ``received``: the invocation that first carried the instance's message began (its cold start included),
  noted by the benchmark's wrapper around the function (:class:`ReceiptLog`), the same for every candidate;
- ``described``, ``tagged``, completion attempts, throttles and backoff: the call journal (each request's
  arrival and answer, its parameters). A call is the instance's when it names it: CreateTags and DeleteTags
  by resource id, DescribeInstances by ``InstanceId.N`` or an ``instance-id`` filter, CompleteLifecycleAction
  and RecordLifecycleActionHeartbeat by ``InstanceId`` or by the lifecycle action token of its notification.

A backoff sleep is the gap between a throttled answer and the next attempt of the same action for the same
instance: botocore's retry delay, its adaptive limiter's wait, tenacity's wait, and thread scheduling.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.clock import SandboxClock
    from sandbox.lifecycle import LifecycleEvent
    from sandbox.server import CallRecord

PENDING_WAIT, IN_SERVICE = "Pending:Wait", "InService"
THROTTLING_CODES = frozenset({"Throttling", "RequestLimitExceeded"})
COMPLETION_ACTIONS = frozenset({"CompleteLifecycleAction"})
# Where an instance's wait goes, in path order; "backoff" is the part of "complete" spent after throttles.
PHASES = ("queue", "cold start", "describe", "name", "complete")
_FILTER_NAME = re.compile(r"Filter\.(\d+)\.Name")
_FILTER_VALUE = re.compile(r"Filter\.(\d+)\.Value\.\d+")
_INSTANCE_ID = re.compile(r"InstanceId(\.\d+)?")

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class Receipt:
    """When the invocation carrying an instance's message began, and how much of it was a cold start."""

    received: float  # sandbox clock
    init_seconds: float


class ReceiptLog:
    """Wraps a candidate's execution environments to note when each instance's message reached the function.

    The wrapper reads the batch's bodies and nothing else; the handler sees the same event and context.
    """

    def __init__(self, clock: SandboxClock, before_cold_start: Callable[[], None] = lambda: None) -> None:
        self._clock = clock
        self._before_cold_start = before_cold_start
        self._lock = threading.Lock()
        self._first: dict[str, Receipt] = {}

    def factory(self, make: Callable[[], Handler]) -> Callable[[], Handler]:
        """The trigger's handler factory around ``make`` (a candidate's): each call is one cold start, timed."""

        def cold_start() -> Handler:
            self._before_cold_start()
            began = self._clock.now()
            handler = make()
            unclaimed_init = [self._clock.now() - began]

            def handle(event: dict[str, Any], context: Any) -> Any:
                init = unclaimed_init.pop() if unclaimed_init else 0.0
                self._note(event, self._clock.now() - init, init)
                return handler(event, context)

            return handle

        return cold_start

    def _note(self, event: Mapping[str, Any], received: float, init: float) -> None:
        instances = [_instance_of(record.get("body", "")) for record in event.get("Records", [])]
        with self._lock:
            for instance_id in instances:
                if instance_id and instance_id not in self._first:
                    self._first[instance_id] = Receipt(received, init)

    def receipts(self) -> dict[str, Receipt]:
        with self._lock:
            return dict(self._first)


def _instance_of(body: str) -> str | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    instance_id = message.get("EC2InstanceId") if isinstance(message, dict) else None
    return instance_id if isinstance(instance_id, str) else None


@dataclass(frozen=True)
class InstanceTimeline:
    """One instance's way through the path; seconds since the run's first launch (None: never happened)."""

    instance_id: str
    launched: float
    received: float | None
    init_seconds: float
    described: float | None
    tagged: float | None
    completion_attempts: int
    throttled: int
    backoff_seconds: float
    completed: float | None
    result: str | None  # InService, Terminated, ... (None: still waiting)

    @property
    def latency(self) -> float | None:
        return None if self.completed is None else self.completed - self.launched

    def phases(self) -> dict[str, float] | None:
        """The wait split along the path (sums to the latency); None unless every point was seen."""
        points = (self.received, self.described, self.tagged, self.completed)
        if any(point is None for point in points):
            return None
        received, described, tagged, completed = (float(p) for p in points)  # type: ignore[arg-type]
        after_init = received + self.init_seconds
        return {
            "queue": received - self.launched,
            "cold start": self.init_seconds,
            "describe": described - after_init,
            "name": tagged - described,
            "complete": completed - tagged,
            "backoff": self.backoff_seconds,
        }


def build_timelines(
    events: Sequence[LifecycleEvent],
    calls: Sequence[CallRecord],
    receipts: Mapping[str, Receipt],
    tokens: Mapping[str, str],
) -> list[InstanceTimeline]:
    """Every launched instance's timeline, in launch order. ``tokens``: lifecycle action token -> instance."""
    launched: dict[str, float] = {}
    completed: dict[str, tuple[float, str]] = {}
    for event in events:
        if event.cause == "launch":
            launched.setdefault(event.instance_id, event.time)
        elif event.from_state == PENDING_WAIT and event.instance_id not in completed:
            completed[event.instance_id] = (event.time, event.to_state)
    if not launched:
        return []
    origin = min(launched.values())
    by_instance: dict[str, list[CallRecord]] = defaultdict(list)
    for call in calls:
        for instance_id in named_instances(call, tokens):
            if instance_id in launched:
                by_instance[instance_id].append(call)
    timelines = []
    for instance_id, launch_time in launched.items():
        own = sorted(by_instance.get(instance_id, []), key=lambda c: c.started_at)
        receipt = receipts.get(instance_id)
        done = completed.get(instance_id)
        timelines.append(
            InstanceTimeline(
                instance_id=instance_id,
                launched=launch_time - origin,
                received=None if receipt is None else receipt.received - origin,
                init_seconds=0.0 if receipt is None else receipt.init_seconds,
                described=_first_accepted(own, "ec2", "DescribeInstances", origin),
                tagged=_first_accepted(own, "ec2", "CreateTags", origin),
                completion_attempts=sum(1 for c in own if c.action in COMPLETION_ACTIONS),
                throttled=sum(1 for c in own if c.error_code in THROTTLING_CODES),
                backoff_seconds=backoff_seconds(own),
                completed=None if done is None else done[0] - origin,
                result=None if done is None else done[1],
            )
        )
    return timelines


def named_instances(call: CallRecord, tokens: Mapping[str, str]) -> list[str]:
    """The instances a call is about, read from its request (see the module docstring)."""
    if call.resources:
        return list(call.resources)
    params = call.params
    if call.service == "ec2" and call.action == "DescribeInstances":
        id_filters = {
            m.group(1)
            for key, values in params.items()
            if (m := _FILTER_NAME.fullmatch(key)) and values == ["instance-id"]
        }
        return [
            value
            for key, values in params.items()
            if _INSTANCE_ID.fullmatch(key) or ((m := _FILTER_VALUE.fullmatch(key)) and m.group(1) in id_filters)
            for value in values
        ]
    if call.service == "autoscaling":
        named = list(params.get("InstanceId", []))
        named += [tokens[t] for t in params.get("LifecycleActionToken", []) if t in tokens]
        return list(dict.fromkeys(named))
    return []


def _first_accepted(calls: Iterable[CallRecord], service: str, action: str, origin: float) -> float | None:
    for call in calls:
        if call.service == service and call.action == action and call.status < 400:
            return call.ended_at - origin
    return None


def backoff_seconds(calls: Sequence[CallRecord]) -> float:
    """Sum of gaps between a throttled answer and the next attempt of the same action (calls in order)."""
    last_throttled: dict[str, float] = {}
    total = 0.0
    for call in calls:
        key = f"{call.service}:{call.action}"
        if key in last_throttled:
            total += max(0.0, call.started_at - last_throttled.pop(key))
        if call.error_code in THROTTLING_CODES:
            last_throttled[key] = call.ended_at
    return total


# --------------------------------------------------------------------------------------------- summaries


def where_time_goes(timelines: Sequence[InstanceTimeline]) -> dict[str, Any]:
    """The median instance's wait split by phase, each phase's median over instances, and each phase's share
    of all the instance-seconds waited."""
    complete = [(t, p) for t in timelines if t.result == IN_SERVICE and (p := t.phases()) is not None]
    if not complete:
        return {}
    # timelines come in launch order (the lifecycle journal's); launches of one burst share a timestamp
    order_kept = rank_correlation(list(range(len(complete))), [t.completed or 0.0 for t, _ in complete])
    complete.sort(key=lambda pair: (pair[0].latency or 0.0, pair[0].launched))
    median_timeline, median_phases = complete[max(0, math.ceil(len(complete) / 2) - 1)]
    total = sum(t.latency or 0.0 for t, _ in complete)
    keys = [*PHASES, "backoff"]
    return {
        "instances": len(complete),
        "median_instance": {
            "instance_id": median_timeline.instance_id,
            "latency": _r(median_timeline.latency),
            "phases": {k: _r(median_phases[k]) for k in keys},
            "completion_attempts": median_timeline.completion_attempts,
            "throttled": median_timeline.throttled,
        },
        "phase_medians": {k: _r(_median([p[k] for _, p in complete])) for k in keys},
        "phase_shares": {k: _r(sum(p[k] for _, p in complete) / total if total > 0 else 0.0) for k in keys},
        "mean_completion_attempts": _r(sum(t.completion_attempts for t, _ in complete) / len(complete)),
        "launch_order_kept": _r(order_kept),
    }


def release_pace(curve: Sequence[float]) -> dict[str, float | None]:
    """When the first instance was released, and the steady rate between the 10th and the 90th percent of
    releases (instances per second): a late start and a slow pace are different problems."""
    if not curve:
        return {"first_release": None, "steady_rate": None}
    low, high = curve[int(0.1 * (len(curve) - 1))], curve[int(0.9 * (len(curve) - 1))]
    count = int(0.9 * (len(curve) - 1)) - int(0.1 * (len(curve) - 1))
    return {"first_release": _r(curve[0]), "steady_rate": _r(count / (high - low)) if high > low else None}


def full_bucket_seconds(times: Iterable[float], burst: float, refill: float) -> float:
    """How long a token bucket that started full at 0 s sat full (its refill wasted) until the last of the
    accepted calls at ``times`` (seconds): 0 means every token was used as soon as it came, that bucket bound."""
    level, now, full = burst, 0.0, 0.0
    for moment in sorted(times):
        elapsed = max(0.0, moment - now)
        to_fill = (burst - level) / refill if refill > 0 else math.inf
        full += max(0.0, elapsed - to_fill)
        level = max(0.0, min(burst, level + elapsed * refill) - 1)
        now = max(now, moment)
    return full


def release_curve(timelines: Sequence[InstanceTimeline]) -> list[float]:
    """Seconds since the first launch at which each instance left Pending:Wait, in order."""
    return sorted(t.completed for t in timelines if t.completed is not None)


def rank_correlation(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Spearman's rho (ties ranked by position): 1 means instances were released in launch order."""
    if len(first) < 2:
        return None
    a, b = _ranks(first), _ranks(second)
    mean = (len(a) - 1) / 2
    covariance = sum((x - mean) * (y - mean) for x, y in zip(a, b, strict=True))
    spread = sum((x - mean) ** 2 for x in a)
    return covariance / spread if spread else None


def _ranks(values: Sequence[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: (values[i], i))
    ranks = [0] * len(values)
    for rank, index in enumerate(order):
        ranks[index] = rank
    return ranks


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) / 2) - 1)]


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
