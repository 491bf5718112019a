"""Every change this project makes to moto's behaviour lives here, so a moto upgrade shows what broke.

moto is pinned exactly (pyproject.toml); each patch has its own test under tests/integration/sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.server import Sandbox

_active: Sandbox | None = None


def apply(sandbox: Sandbox) -> None:
    """Installs the patches for one running sandbox (moto's backends are process-wide: one at a time)."""
    global _active  # noqa: PLW0603 - moto's state is process-global, so is ours
    if _active is not None and _active is not sandbox:
        raise RuntimeError("another Sandbox is already running in this process; stop it first")
    _active = sandbox


def release(sandbox: Sandbox) -> None:
    global _active  # noqa: PLW0603
    if _active is sandbox:
        _active = None
