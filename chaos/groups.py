"""What a fault-suite run knows about each of its Auto Scaling groups: the runner fills it in, the
invariants read it."""

from __future__ import annotations

from dataclasses import dataclass, field

from chaos.function import Deliveries, KillSwitch
from sandbox.trigger import SqsTrigger
from scenarios import World


@dataclass
class Group:
    label: str  # tagged-<n>, untagged or short-hb
    world: World
    role: str
    desired: int
    env: dict[str, str]
    deliveries: Deliveries = field(default_factory=Deliveries)
    triggers: list[SqsTrigger] = field(default_factory=list)
    kill: KillSwitch | None = None
    poison: list[str] = field(default_factory=list)
    initial: list[str] = field(default_factory=list)  # the first generation of instances
    never_ip: set[str] = field(default_factory=set)
    terminated: set[str] = field(default_factory=set)  # terminated through EC2 while waiting
    broken: bool = False
    broken_done: bool = True
    scaled_in_at: float | None = None  # sandbox time the runner scaled an untagged group to 0

    @property
    def untagged(self) -> bool:
        return self.role.startswith("untagged")
