"""The fault suite: scale out through the whole pipeline in the sandbox under injected faults, then check
that nothing was lost and nothing unnamed entered service (issue 7). See docs/chaos.md."""

from chaos.runner import FAULTS, INVARIANTS, ChaosConfig, ChaosReport, run_chaos

__all__ = ["FAULTS", "INVARIANTS", "ChaosConfig", "ChaosReport", "run_chaos"]
