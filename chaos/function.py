"""The function under test, as the fault suite runs it: the real handler, one cold start per execution
environment, behind both its triggers (the SQS trigger and the sweep's schedule), with every delivery
counted and (for one group) CompleteLifecycleAction slowed down until the trigger kills the invocation
mid-batch."""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.lambda_context import FunctionSettings
from sandbox.lambda_function import LambdaFunction
from sandbox.lambda_runtime import environment_factory

HANDLER_MODULE = "handler.app"
FUNCTION_NAME = "asg-namer"

Handler = Callable[[dict[str, Any], Any], Any]


class Deliveries:
    """Records handed to the handler, by message id and by instance id (bodies parsed leniently)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_instance: Counter[str] = Counter()
        self.by_message: Counter[str] = Counter()

    def add(self, event: Mapping[str, Any]) -> None:
        for record in event.get("Records", []):
            instance_id = _instance_of(record.get("body", ""))
            with self._lock:
                self.by_message[record.get("messageId", "")] += 1
                if instance_id:
                    self.by_instance[instance_id] += 1


def _instance_of(body: str) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if isinstance(value, dict):
        found = value.get("EC2InstanceId")
        return found if isinstance(found, str) else None
    return None


@dataclass
class KillSwitch:
    """Makes the first ``calls`` CompleteLifecycleAction calls of the function wait ``delay`` seconds:
    longer than the function timeout, so the trigger kills that invocation mid-batch (other records of
    the batch may have finished; the killed one's message comes back after the visibility timeout)."""

    delay: float
    calls: int = 1
    slowed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self.lock:
            if self.slowed >= self.calls:
                return False
            self.slowed += 1
            return True


def lifecycle_completer(handler: Handler) -> Any | None:
    """The object of a freshly initialised handler module whose ``complete`` calls
    CompleteLifecycleAction: the module global ``fleet`` (a ``handler.fleet.Fleet``). None if there is none."""
    module_globals: dict[str, Any] = getattr(inspect.unwrap(handler), "__globals__", {})
    return module_globals.get("fleet")


def deployed_function(
    env: Mapping[str, str], deliveries: Deliveries, kill: KillSwitch | None, timeout: float
) -> LambdaFunction:
    """The function with ``env`` as its environment variables (read at each cold start)."""
    return LambdaFunction(
        FunctionSettings(FUNCTION_NAME, timeout=timeout),
        handler_factory=handler_factory(deliveries, kill),
        environment=env,
    )


def handler_factory(deliveries: Deliveries, kill: KillSwitch | None) -> Callable[[], Handler]:
    """The function's handler factory: each call is one cold start of the real handler."""
    cold_start = environment_factory(HANDLER_MODULE)

    def factory() -> Handler:
        handler = cold_start()
        completer = lifecycle_completer(handler)
        if kill is not None and completer is not None:
            original = completer.complete

            def slow_complete(*args: Any, **kwargs: Any) -> None:
                if kill.take():
                    time.sleep(kill.delay)  # the trigger's deadline passes meanwhile: the batch is killed
                original(*args, **kwargs)

            completer.complete = slow_complete

        def invoke(event: dict[str, Any], context: Any) -> Any:
            deliveries.add(event)
            return handler(event, context)

        return invoke

    return factory
