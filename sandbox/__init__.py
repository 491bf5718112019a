"""The embedded local AWS this project runs on: moto plus lifecycle hooks, the SQS trigger and faults.

Attributes load lazily (PEP 562), so importing a pure submodule such as ``sandbox.lambda_context``
does not start importing moto.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.api_call import ACCOUNT_ID, DEFAULT_REGION
    from sandbox.server import Sandbox

__all__ = ["ACCOUNT_ID", "DEFAULT_REGION", "Sandbox"]

_HOMES = {"ACCOUNT_ID": "sandbox.api_call", "DEFAULT_REGION": "sandbox.api_call", "Sandbox": "sandbox.server"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
