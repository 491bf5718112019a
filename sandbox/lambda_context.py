"""A Lambda function's settings and the context object its Python handler receives.

Pure Python on purpose (no boto3, no moto): a process that only runs a handler, such as the benchmark's
memory probe, imports this module alone.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

MAX_FUNCTION_TIMEOUT = 900
MIN_MEMORY_SIZE, MAX_MEMORY_SIZE = 128, 10_240
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class FunctionSettings:
    """What the trigger needs of the function, named as CreateFunction names them and validated alike.

    ``timeout`` may be fractional (Lambda: whole seconds 1..900) to keep tests fast.
    """

    name: str
    timeout: float = 3.0
    memory_size: int = 128
    version: str = "$LATEST"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _FUNCTION_NAME.fullmatch(self.name):
            raise ValueError(f"FunctionName: 1..64 letters, digits, '-' or '_', got {self.name!r}")
        if not 0 < self.timeout <= MAX_FUNCTION_TIMEOUT:
            raise ValueError(f"Timeout: function timeout must be > 0 and <= 900 seconds, got {self.timeout}")
        if not MIN_MEMORY_SIZE <= self.memory_size <= MAX_MEMORY_SIZE:
            raise ValueError(f"MemorySize: must be between 128 and 10240 MB, got {self.memory_size}")
        if not self.version:
            raise ValueError("Version: must not be empty (e.g. $LATEST)")


class LambdaContext:
    """The context object of the Python runtime: the attributes Powertools and handlers read."""

    def __init__(
        self,
        *,
        function_name: str = "my-function",
        function_version: str = "$LATEST",
        invoked_function_arn: str | None = None,
        memory_limit_in_mb: int = 128,
        aws_request_id: str | None = None,
        log_group_name: str | None = None,
        log_stream_name: str | None = None,
        timeout_seconds: float = 3.0,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        """Every argument has a neutral default, so handler tests can build one with ``LambdaContext()``."""
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = (
            invoked_function_arn or f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        )
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = log_group_name or f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name or log_stream_name_for(function_version)
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function timeout, counting down from the start of the invocation."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r})"


def log_stream_name_for(function_version: str) -> str:
    """Lambda's log stream name: date, [version], then the execution environment's id."""
    return f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{function_version}]{uuid.uuid4().hex}"
