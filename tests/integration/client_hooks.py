"""Botocore event handlers on the clients a command creates: a slow network, a concurrent operator acting
between two of the command's calls, or a record of what it sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cli.common import Aws


def hook_clients(monkeypatch: pytest.MonkeyPatch, handlers: dict[str, Callable[..., None]]) -> None:
    """Registers ``handlers`` (botocore event name -> handler) on every client ``Aws.client`` makes."""
    original = Aws.client
    hooked: set[int] = set()

    def client(self: Aws, service: str) -> Any:
        made = original(self, service)
        if id(made) not in hooked:
            hooked.add(id(made))
            for event, handler in handlers.items():
                made.meta.events.register(event, handler)
        return made

    monkeypatch.setattr(Aws, "client", client)


def as_account(client: Any, account_id: str) -> Any:
    """The same client, its requests attributed to ``account_id`` by the sandbox (moto serves many accounts)."""

    def header(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account_id

    client.meta.events.register("before-sign.*.*", header)
    return client
