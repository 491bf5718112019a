"""Acting as another AWS account in the sandbox (moto serves several, told apart by a request header)."""

from __future__ import annotations

from typing import Any


def as_account(client: Any, account_id: str) -> Any:
    """The same client, its requests attributed to ``account_id`` by the sandbox (moto serves many accounts)."""

    def header(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account_id

    client.meta.events.register("before-sign.*.*", header)
    return client
