"""Realism and fault controls for the sandbox: all off by default.

The server asks :meth:`FaultControls.before_call` about every request before it takes the moto lock;
a :class:`Rejection` turns the request into an AWS-shaped error (or a reset connection) before moto
sees it. Everything is configured from Python at run time, from any thread::

    controls = sandbox.controls
    controls.reseed(7)                                   # reproducible jitter, spikes, probabilities
    controls.set_latency(base_ms=20, jitter_ms=10, spike_probability=0.01, spike_ms=500)
    controls.set_throttling(rate_scale=10)              # documented EC2 buckets, refills x10
    controls.inject_error("ec2", "CreateTags", ErrorKind.HTTP500, count=2)
    controls.set_private_ip_delay(30)                   # DescribeInstances hides the IP for 30 s
    controls.set_eventual_consistency(5)                # InvalidInstanceID.NotFound for 5 s
    ...
    controls.stats()                                     # what was injected
    controls.reset()                                     # everything off, counters zeroed

What is modelled, and on which clock:

- Latency is real time (a network delay), slept in ``before_call`` outside the moto lock.
- Throttling uses EC2's documented token buckets per account and Region (``EC2_BUCKETS`` in
  ``sandbox.throttling``, with the rules of which call draws from which bucket) and one
  shared Auto Scaling bucket whose numbers are an assumption (AWS does not publish them). Buckets refill
  on real monotonic time multiplied by ``rate_scale``: API rate limits belong to AWS's front door, not
  to the lifecycle clock, so speeding up hook timeouts must not hand out more API calls; ``rate_scale``
  is the separate, explicit (and reported) knob that lets large benchmark runs finish in minutes.
  Injected errors are decided before throttling, and neither a throttled nor an injected call takes
  a token twice. SQS and the other services are not throttled.
- Private IP assigned late and eventual consistency are decided by instance age on the sandbox
  clock (``clock.now()`` minus the instance's launch time), so a fast clock shortens them too. The
  moto side of both lives in ``sandbox.moto_patches`` (DescribeInstances and CreateTags), which asks
  :meth:`FaultControls.private_ip_pending` and :meth:`FaultControls.instance_not_yet_visible`.

Random draws (jitter, spikes, probabilistic rules) come from one ``random.Random(seed)``; with
concurrent callers the order of draws follows the order of arrival.

The names that configure the controls (bucket names, ``BucketSpec``, ``ErrorKind``, ``ErrorRule``) are
defined in ``sandbox.throttling`` and ``sandbox.error_rules`` and exported here too, so a caller needs
only this module.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sandbox.api_call import ACCOUNT_ID, ApiCall, Rejection
from sandbox.delays import InstanceDelay, LatencyConfig
from sandbox.error_rules import ErrorKind, ErrorRule, RuleState
from sandbox.throttling import (
    AUTOSCALING,
    AUTOSCALING_BUCKET,
    DEFAULT_BUCKETS,
    EC2_BUCKETS,
    EC2_CREATE_TAGS,
    EC2_DELETE_TAGS,
    EC2_MUTATING,
    EC2_NON_MUTATING,
    EC2_UNFILTERED_DESCRIBE_INSTANCES,
    BucketSpec,
    TokenBucket,
    bucket_for,
    throttled,
)

if TYPE_CHECKING:
    from sandbox.clock import SandboxClock


class FaultControls:
    """No latency, no throttling, no injected errors until a test or the benchmark turns them on.

    Thread-safe: configure from any thread while the server is answering calls.
    """

    def __init__(
        self,
        clock: SandboxClock,
        *,
        seed: int | None = None,
        account_id: str = ACCOUNT_ID,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock
        self.account_id = account_id
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(seed)
        self._rule_ids = itertools.count(1)
        self._set_defaults()

    def _set_defaults(self) -> None:
        self._latency = LatencyConfig()
        self._throttling = False
        self._rate_scale = 1.0
        self._bucket_specs: dict[str, BucketSpec] = dict(DEFAULT_BUCKETS)
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._rules: list[RuleState] = []
        self._private_ip_delay = InstanceDelay()
        self._consistency_delay = InstanceDelay()
        self._zero_counters()

    def _zero_counters(self) -> None:
        self._calls = 0
        self._completed = 0
        self._delayed_calls = 0
        self._latency_total_ms = 0.0
        self._latency_max_ms = 0.0
        self._spikes = 0
        self._throttled_by_bucket: Counter[str] = Counter()
        self._throttled_by_action: Counter[str] = Counter()
        self._injected_by_kind: Counter[str] = Counter()
        self._injected_by_action: Counter[str] = Counter()
        self._injected_by_rule: Counter[str] = Counter()
        self._ec2_events: Counter[str] = Counter()

    # -- configuration ------------------------------------------------------------------------------

    def reseed(self, seed: int | None) -> None:
        """Restarts the random draws from ``seed`` (kept across ``reset()``)."""
        with self._lock:
            self._seed = seed
            self._rng = random.Random(seed)

    def set_latency(
        self,
        base_ms: float = 0.0,
        jitter_ms: float = 0.0,
        *,
        spike_probability: float = 0.0,
        spike_ms: float = 0.0,
        services: Iterable[str] | None = None,
    ) -> None:
        """Delays every call (real time, before the moto lock). All zeros turn latency off."""
        config = LatencyConfig(
            base_ms, jitter_ms, spike_probability, spike_ms, frozenset(services) if services is not None else None
        )
        with self._lock:
            self._latency = config

    def set_throttling(
        self,
        enabled: bool = True,
        *,
        rate_scale: float | None = None,
        buckets: Mapping[str, BucketSpec | tuple[float, float]] | None = None,
    ) -> None:
        """Turns the token buckets on (or off). ``buckets`` overrides some of ``DEFAULT_BUCKETS`` by name,
        e.g. ``{EC2_CREATE_TAGS: BucketSpec(3, 0)}``; ``rate_scale`` multiplies every refill rate.
        Every call refills all buckets (they restart full)."""
        if rate_scale is not None and rate_scale <= 0:
            raise ValueError("rate_scale must be positive")
        overrides = {
            name: spec if isinstance(spec, BucketSpec) else BucketSpec(*spec) for name, spec in (buckets or {}).items()
        }
        unknown = set(overrides) - set(DEFAULT_BUCKETS)
        if unknown:
            raise ValueError(f"unknown buckets {sorted(unknown)}; known: {sorted(DEFAULT_BUCKETS)}")
        with self._lock:
            self._throttling = enabled
            if rate_scale is not None:
                self._rate_scale = rate_scale
            self._bucket_specs.update(overrides)
            self._buckets.clear()

    def inject_error(
        self,
        service: str,
        action: str = "*",
        kind: ErrorKind | str = ErrorKind.HTTP500,
        *,
        count: int | None = None,
        probability: float | None = None,
        after: int = 0,
        region: str | None = None,
        status: int | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> str:
        """Schedules errors (see :class:`ErrorRule`); returns the rule id used in ``stats()``."""
        rule = ErrorRule(service, action, ErrorKind(kind), count, probability, after, region, status, code, message)
        return self.add_error_rule(rule)

    def add_error_rule(self, rule: ErrorRule) -> str:
        with self._lock:
            rule_id = f"rule-{next(self._rule_ids)}"
            self._rules.append(RuleState(rule_id, rule))
            return rule_id

    def remove_error_rule(self, rule_id: str) -> None:
        with self._lock:
            self._rules = [state for state in self._rules if state.rule_id != rule_id]

    def clear_error_rules(self) -> None:
        with self._lock:
            self._rules = []

    def set_private_ip_delay(
        self,
        seconds: float,
        *,
        instance_ids: Iterable[str] | None = None,
        predicate: Callable[[str], bool] | None = None,
    ) -> None:
        """DescribeInstances omits PrivateIpAddress, PrivateDnsName and the primary ENI's private IP
        for instances launched less than ``seconds`` sandbox-seconds ago (0 turns it off)."""
        delay = InstanceDelay(seconds, frozenset(instance_ids) if instance_ids is not None else None, predicate)
        with self._lock:
            self._private_ip_delay = delay

    def set_eventual_consistency(
        self,
        seconds: float,
        *,
        instance_ids: Iterable[str] | None = None,
        predicate: Callable[[str], bool] | None = None,
    ) -> None:
        """Instances launched less than ``seconds`` sandbox-seconds ago do not exist yet for
        DescribeInstances (NotFound by id, omitted otherwise) and CreateTags (0 turns it off)."""
        delay = InstanceDelay(seconds, frozenset(instance_ids) if instance_ids is not None else None, predicate)
        with self._lock:
            self._consistency_delay = delay

    def reset(self) -> None:
        """Everything off, counters zeroed, bucket numbers back to the defaults, draws restarted from the seed."""
        with self._lock:
            self._set_defaults()
            self._rng = random.Random(self._seed)

    def reset_stats(self) -> None:
        """Zeroes the counters only; the faults stay as configured."""
        with self._lock:
            self._zero_counters()

    # -- reporting ----------------------------------------------------------------------------------

    @property
    def rate_scale(self) -> float:
        with self._lock:
            return self._rate_scale

    def bucket_specs(self) -> dict[str, BucketSpec]:
        """The bucket numbers in force (documented defaults unless overridden)."""
        with self._lock:
            return dict(self._bucket_specs)

    def active_faults(self) -> dict[str, Any]:
        """What is switched on right now; an empty dict means the sandbox behaves like plain moto."""
        with self._lock:
            active: dict[str, Any] = {}
            if self._latency.enabled:
                latency = asdict(self._latency)
                latency["services"] = sorted(self._latency.services) if self._latency.services is not None else None
                active["latency"] = latency
            if self._throttling:
                active["throttling"] = {
                    "rate_scale": self._rate_scale,
                    "buckets": {name: asdict(spec) for name, spec in self._bucket_specs.items()},
                }
            rules = [
                {"id": state.rule_id, **asdict(state.rule), "seen": state.seen, "injected": state.injected}
                for state in self._rules
                if not state.exhausted()
            ]
            if rules:
                active["error_rules"] = rules
            if self._private_ip_delay.enabled:
                active["private_ip_delay"] = self._private_ip_delay.describe()
            if self._consistency_delay.enabled:
                active["eventual_consistency"] = self._consistency_delay.describe()
            return active

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset; plain data, safe to dump as JSON."""
        with self._lock:
            return {
                "calls": self._calls,
                "completed": self._completed,
                "latency": {
                    "delayed_calls": self._delayed_calls,
                    "total_ms": self._latency_total_ms,
                    "max_ms": self._latency_max_ms,
                    "spikes": self._spikes,
                },
                "throttled": {
                    "total": sum(self._throttled_by_bucket.values()),
                    "by_bucket": dict(self._throttled_by_bucket),
                    "by_action": dict(self._throttled_by_action),
                },
                "injected": {
                    "total": sum(self._injected_by_kind.values()),
                    "by_kind": dict(self._injected_by_kind),
                    "by_action": dict(self._injected_by_action),
                    "by_rule": dict(self._injected_by_rule),
                },
                "ec2": {
                    "private_ip_hidden": self._ec2_events["private_ip_hidden"],
                    "not_found": self._ec2_events["not_found"],
                    "omitted": self._ec2_events["omitted"],
                },
                "rate_scale": self._rate_scale,
                "seed": self._seed,
            }

    # -- the server's hooks -------------------------------------------------------------------------

    def before_call(self, call: ApiCall) -> Rejection | None:
        """Sleeps the latency (the caller holds no lock), then decides: injected error, throttled, or on."""
        with self._lock:
            self._calls += 1
            delay_ms = self._draw_latency_locked(call)
        if delay_ms > 0:
            self._sleep(delay_ms / 1000.0)
        with self._lock:
            rejection = self._scheduled_error_locked(call)
            if rejection is None:
                rejection = self._throttle_locked(call)
            return rejection

    def after_call(self, call: ApiCall, status: int) -> None:
        with self._lock:
            self._completed += 1

    def _draw_latency_locked(self, call: ApiCall) -> float:
        config = self._latency
        if not config.enabled or (config.services is not None and call.service not in config.services):
            return 0.0
        delay = config.base_ms
        if config.jitter_ms > 0:
            delay += self._rng.uniform(0.0, config.jitter_ms)
        if config.spike_probability > 0 and self._rng.random() < config.spike_probability:
            delay += config.spike_ms
            self._spikes += 1
        if delay > 0:
            self._delayed_calls += 1
            self._latency_total_ms += delay
            self._latency_max_ms = max(self._latency_max_ms, delay)
        return delay

    def _scheduled_error_locked(self, call: ApiCall) -> Rejection | None:
        chosen: RuleState | None = None
        for state in self._rules:
            if not state.rule.matches(call):
                continue
            state.seen += 1
            if chosen is None and self._fires(state):
                chosen = state
        if chosen is None:
            return None
        chosen.injected += 1
        self._injected_by_kind[chosen.rule.kind.value] += 1
        self._injected_by_action[f"{call.service}:{call.action}"] += 1
        self._injected_by_rule[chosen.rule_id] += 1
        return chosen.rule.rejection(call.service)

    def _fires(self, state: RuleState) -> bool:
        rule = state.rule
        if state.seen <= rule.after or state.exhausted():
            return False
        return rule.probability is None or self._rng.random() < rule.probability

    def _throttle_locked(self, call: ApiCall) -> Rejection | None:
        if not self._throttling:
            return None
        name = bucket_for(call)
        if name is None:
            return None
        now = self._monotonic()
        key = (self.account_id, call.region, name)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._bucket_specs[name], now)
        if bucket.take(now, self._rate_scale):
            return None
        self._throttled_by_bucket[name] += 1
        self._throttled_by_action[f"{call.service}:{call.action}"] += 1
        return throttled(name)

    # -- EC2 views (asked by sandbox.moto_patches while it renders DescribeInstances / CreateTags) ----

    def ec2_views_active(self) -> bool:
        with self._lock:
            return self._private_ip_delay.enabled or self._consistency_delay.enabled

    def instance_not_yet_visible(self, instance_id: str, launched_at: float) -> bool:
        """Eventual consistency: True while an instance launched at ``launched_at`` (sandbox epoch
        seconds) should still look nonexistent."""
        with self._lock:
            delay = self._consistency_delay
        return delay.applies(instance_id, self.clock.now() - launched_at)

    def private_ip_pending(self, instance_id: str, launched_at: float) -> bool:
        """True while DescribeInstances should not show the instance's private IP yet."""
        with self._lock:
            delay = self._private_ip_delay
        return delay.applies(instance_id, self.clock.now() - launched_at)

    def record_ec2_event(self, event: str, count: int = 1) -> None:
        """Counts ``private_ip_hidden`` / ``not_found`` / ``omitted`` for ``stats()["ec2"]``."""
        if count:
            with self._lock:
                self._ec2_events[event] += count

    def __repr__(self) -> str:
        return f"FaultControls(active={sorted(self.active_faults())})"


__all__ = [
    "AUTOSCALING",
    "AUTOSCALING_BUCKET",
    "DEFAULT_BUCKETS",
    "EC2_BUCKETS",
    "EC2_CREATE_TAGS",
    "EC2_DELETE_TAGS",
    "EC2_MUTATING",
    "EC2_NON_MUTATING",
    "EC2_UNFILTERED_DESCRIBE_INSTANCES",
    "BucketSpec",
    "ErrorKind",
    "ErrorRule",
    "FaultControls",
    "InstanceDelay",
    "LatencyConfig",
    "Rejection",
    "bucket_for",
]
