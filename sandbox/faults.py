"""Realism and fault controls for the sandbox: all off by default.

The server asks :meth:`FaultControls.before_call` about every request; a :class:`Rejection` turns the
request into an AWS-shaped error (or a reset connection) before moto sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.clock import SandboxClock
    from sandbox.server import ApiCall


@dataclass(frozen=True)
class Rejection:
    status: int
    code: str
    message: str
    reset_connection: bool = False


class FaultControls:
    """No latency, no throttling, no injected errors until a test or the benchmark turns them on."""

    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock

    def before_call(self, call: ApiCall) -> Rejection | None:
        return None

    def after_call(self, call: ApiCall, status: int) -> None:
        return None
