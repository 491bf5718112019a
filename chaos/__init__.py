"""The fault suite: scale out through the whole pipeline in the sandbox under injected faults, then check
that nothing was lost and nothing unnamed entered service (issue 7). See docs/chaos.md.

Attributes load lazily (PEP 562): ``chaos.config`` can be read (e.g. for ``asg-namer chaos --help``)
without importing the sandbox.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.config import FAULTS, ChaosConfig
    from chaos.invariants import INVARIANTS
    from chaos.report import ChaosReport
    from chaos.runner import run_chaos

__all__ = ["FAULTS", "INVARIANTS", "ChaosConfig", "ChaosReport", "run_chaos"]

_HOMES = {
    "FAULTS": "chaos.config",
    "ChaosConfig": "chaos.config",
    "INVARIANTS": "chaos.invariants",
    "ChaosReport": "chaos.report",
    "run_chaos": "chaos.runner",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'chaos' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
