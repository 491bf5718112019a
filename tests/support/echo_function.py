"""A Lambda handler module for the sandbox's own tests: like a real handler, it reads its configuration once,
when its execution environment initialises, and answers with it."""

from __future__ import annotations

import os
from typing import Any

GREETING = os.environ.get("GREETING", "")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"greeting": GREETING, "source": event.get("source"), "function": context.function_name}
