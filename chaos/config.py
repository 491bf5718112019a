"""What a fault-suite run is configured with: the faults it can inject and the knobs of a run.

Pure data (no sandbox import): the CLI reads it to build ``asg-namer chaos --help``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    description: str


FAULTS: tuple[Fault, ...] = (
    Fault("throttling", "EC2 and Auto Scaling token buckets at the documented rates (set_throttling defaults)"),
    Fault("errors", "random HTTP 500/503 answers on EC2, Auto Scaling and SQS (inject_error with a probability)"),
    Fault("resets", "random TCP connection resets on EC2 and Auto Scaling calls"),
    Fault("latency", "latency with jitter and random spikes on every call (set_latency)"),
    Fault("late_ips", "half the instances get their private IP seconds after launch (set_private_ip_delay)"),
    Fault("eventual_consistency", "half the instances are InvalidInstanceID.NotFound right after launch"),
    Fault("terminated_while_waiting", "short-hb instances terminated through EC2 while in Pending:Wait"),
    Fault("duplicates", "copies of real hook messages sent to the queues (at-least-once delivery)"),
    Fault("killed_invocation", "CompleteLifecycleAction slower than the function timeout: the batch is killed"),
    Fault("poison", "malformed messages on a queue: they must end in its DLQ after maxReceiveCount"),
    Fault("heartbeat_timeout", "short-hb instances whose IP never appears: the hook's DefaultResult applies"),
    Fault("broken_deploy", "the function starts with FAILURE_RESULT=MAYBE (every init fails), then is fixed"),
    Fault("lost_messages", "a share of the hook messages deleted from the queues before the function sees them"),
)
FAULT_NAMES: tuple[str, ...] = tuple(f.name for f in FAULTS)


@dataclass(frozen=True)
class ChaosConfig:
    seed: int = 7
    groups: int = 2  # fully tagged groups
    instances: int = 6  # per tagged group
    untagged_instances: int = 2
    never_ip_instances: int = 1  # short-hb instances whose IP never appears
    terminated_instances: int = 1  # short-hb instances terminated through EC2 while waiting
    poison: int = 3
    duplicates: int = 3
    slot_instances: int = 6  # instances of the group named by a {slot} template (0: no such group)
    lost_share: float = 0.25  # of the launch messages of the tagged and slot groups (lost_messages)
    faults: tuple[str, ...] = FAULT_NAMES
    clock_scale: float = 20.0
    error_probability: float = 0.03
    reset_probability: float = 0.02
    late_ip_seconds: float = 2.0  # real seconds
    consistency_seconds: float = 1.0  # real seconds
    visibility_timeout: int = 6
    function_timeout: float = 6.0
    # The sweep's schedule runs on the sandbox clock (rate(5 minutes) at 20x: every 15 real seconds).
    # SWEEP_STUCK_AFTER_SECONDS is compared with EC2's LaunchTime by the function's own clock, so it is real
    # seconds here: long enough for the queue path to finish first as a rule, short enough that instances
    # whose messages were lost are released within seconds (their hooks wait 7200 sandbox s = 6 real minutes).
    sweep_schedule: str = "rate(5 minutes)"
    sweep_stuck_after_seconds: int = 6
    timeout: float = 120.0  # real seconds to wait for quiescence

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULT_NAMES)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULT_NAMES)}")
        if self.groups < 1 or self.instances < 1:
            raise ValueError("need at least one tagged group with one instance")
        if self.function_timeout > self.visibility_timeout:
            raise ValueError("function_timeout must not exceed visibility_timeout")
        if not 0 <= self.lost_share < 1:
            raise ValueError("lost_share must be at least 0 and below 1")
        if self.slot_instances < 0:
            raise ValueError("slot_instances must not be negative")

    def on(self, fault: str) -> bool:
        return fault in self.faults


# `make soak`: more instances and groups, every fault, a few seeds.
SOAK = ChaosConfig(
    groups=3,
    # 40 per group collapsed once every group had its own sweep and a {slot} group: six deployments' triggers,
    # sweeps and the sandbox share one interpreter, calls took seconds (mean 0.5 s, up to 12 s), invocations
    # were killed at the 10 s timeout and their redeliveries fed it (docs/chaos.md). 25 is what it serves.
    instances=25,
    untagged_instances=4,
    never_ip_instances=3,
    terminated_instances=3,
    poison=6,
    duplicates=12,
    slot_instances=30,
    # at the documented throttling rates one boto3 call can retry for seconds: a 3 s function timeout
    # kills invocations whose work then succeeds late, and their messages pile up to maxReceiveCount; with six
    # deployments in one interpreter 10 s still killed 34 invocations per run (docs/chaos.md). The stack: 60 s.
    function_timeout=20.0,
    visibility_timeout=24,
    # The schedule runs on the 20x sandbox clock, the API buckets on real time: rate(5 minutes) swept every
    # 15 real seconds, four times as often as any deployment can (EventBridge's shortest rate is 1 minute), and
    # six deployments' sweeps then spent the account's Auto Scaling bucket the queue path needs. rate(20 minutes)
    # here is one sweep per real minute: a deployment that chose rate(1 minute).
    sweep_schedule="rate(20 minutes)",
    timeout=300.0,
)
SOAK_SEEDS = (1, 2, 3)
