"""A fault-suite run's result: the table ``asg-namer chaos`` prints and the JSON it writes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from chaos.config import ChaosConfig
from chaos.invariants import GroupResult, InvariantResult


@dataclass
class ChaosReport:
    config: ChaosConfig
    quiescent: bool
    duration_seconds: float
    groups: list[GroupResult]
    invariants: list[InvariantResult]
    injected: dict[str, Any]

    @property
    def violations(self) -> int:
        return sum(len(i.violations) for i in self.invariants)

    def to_json(self) -> dict[str, Any]:
        return {
            "violations": self.violations,
            "quiescent": self.quiescent,
            "duration_seconds": round(self.duration_seconds, 2),
            "config": asdict(self.config),
            "invariants": {
                i.name: {
                    "description": i.description,
                    "checked": i.checked,
                    "violations": len(i.violations),
                    "details": i.violations,
                }
                for i in self.invariants
            },
            "groups": [asdict(g) for g in self.groups],
            "faults_injected": self.injected,
        }

    def table(self) -> str:
        lines = [f"Chaos run: seed {self.config.seed}, faults: {', '.join(self.config.faults) or 'none'}", ""]
        lines.append("Faults injected")
        for name, value in self.injected.items():
            lines.append(f"  {name:<28} {value}")
        lines.append("")
        header = f"  {'group':<10} {'role':<40} {'launched':>8} {'named':>6} {'abandon':>8} {'breaker':>8}"
        lines.append("Instances and outcomes")
        lines.append(header + f" {'timeout':>8} {'removed':>8} {'lost':>5} {'other':>6}")
        for g in self.groups:
            lines.append(
                f"  {g.name:<10} {g.role:<40} {g.launched:>8} {g.in_service_named:>6} {g.abandoned_with_reason:>8} "
                f"{g.released_unnamed:>8} {g.timed_out:>8} {g.removed:>8} {g.lost:>5} {g.other:>6}"
            )
        lines.append("")
        lines.append("Invariants")
        for inv in self.invariants:
            lines.append(f"  {inv.name:<22} checked {inv.checked:>5}  violations {len(inv.violations)}")
            lines.extend(f"      - {v}" for v in inv.violations[:10])
        lines.append("")
        state = "quiescent" if self.quiescent else "NOT quiescent (timed out waiting)"
        lines.append(f"Violations: {self.violations} ({state} after {self.duration_seconds:.1f} s)")
        return "\n".join(lines)
