"""A function for the process environments' tests: what it does is what its event asks."""

from __future__ import annotations

import os
import time
from typing import Any

if os.environ.get("FAIL_INIT"):
    raise RuntimeError(f"configuration refused: {os.environ['FAIL_INIT']}")
print("initialised")  # noqa: T201 - the environment's log stream
INITIALISED_IN = os.getpid()


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "print" in event:
        print(event["print"])  # noqa: T201
    if "raise" in event:
        raise ValueError(event["raise"])
    if "unpicklable" in event:
        return lambda: None
    if "set" in event:
        return {1, 2}
    return {
        "pid": os.getpid(),
        "initialised_in": INITIALISED_IN,
        "setting": os.environ.get("SETTING"),
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
