"""What a fault-suite run knows about each of its Auto Scaling groups: the runner fills it in, the
invariants read it."""

from __future__ import annotations

from dataclasses import dataclass, field

from chaos.function import Deliveries, KillSwitch
from sandbox.lambda_function import LambdaFunction
from sandbox.schedule import Schedule
from sandbox.trigger import SqsTrigger
from scenarios import World


@dataclass
class Group:
    label: str  # tagged-<n>, slots, untagged or short-hb
    world: World
    role: str
    desired: int
    env: dict[str, str]
    template: str | None = None  # the hook's template (NotificationMetadata), when not the configured one
    deliveries: Deliveries = field(default_factory=Deliveries)
    function: LambdaFunction | None = None  # one deployment per group: behind both triggers below
    trigger: SqsTrigger | None = None
    sweep: Schedule | None = None
    kill: KillSwitch | None = None
    poison: list[str] = field(default_factory=list)
    initial: list[str] = field(default_factory=list)  # the first generation of instances
    never_ip: set[str] = field(default_factory=set)
    terminated: set[str] = field(default_factory=set)  # terminated through EC2 while waiting
    lost: set[str] = field(default_factory=set)  # instances whose hook message was deleted unseen
    broken: bool = False
    broken_done: bool = True

    @property
    def untagged(self) -> bool:
        return self.role.startswith("untagged")

    @property
    def numbered(self) -> bool:
        return self.label == "slots"
