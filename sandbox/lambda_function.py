"""A Lambda function as every one of its triggers sees it: one set of execution environments, one concurrency.

A function's execution environments serve every trigger of that function: the SQS event source mapping
(``sandbox.trigger``) and an EventBridge schedule (``sandbox.schedule``) invoking the same function reuse the
same warm environments and count against the same concurrency, as on Lambda::

    function = LambdaFunction(FunctionSettings("my-function", timeout=30), handler="my_module.lambda_handler",
                              environment={"LOG_LEVEL": "INFO"}, reserved_concurrency=5)
    with SqsTrigger(queue_url, function=function, mapping=mapping), Schedule("every-5", "rate(5 minutes)",
                                                                             function, clock):
        ...

The handler is named as Lambda's Handler setting names it (``module.attribute``), or given as a factory
(called once per execution environment: a cold start). ``environment`` is the function's environment
variables: they are set in ``os.environ`` while an execution environment initialises (one cold start at a
time, since ``os.environ`` is the process's; one that waits past its invocation's timeout gives up), which
is when a handler reads its configuration. They are not set during invocations (threads of one process
share ``os.environ``). ``update_configuration`` changes them the way UpdateFunctionConfiguration does:
invocations after it run in new environments.

Concurrency: at most ``reserved_concurrency`` invocations at once (Lambda's reserved concurrency, 0..1000),
otherwise at most the account's default unreserved concurrency (1000; the sandbox does not share it
between functions). A trigger takes a slot before it invokes and gives it back after.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.api_call import ACCOUNT_ID, DEFAULT_REGION
from sandbox.invocation import FunctionResult, FunctionRunner, Handler, HandlerFactory, invocation_deadline
from sandbox.lambda_context import FunctionSettings
from sandbox.lambda_runtime import environment, environment_factory

ACCOUNT_CONCURRENCY = 1000  # the default concurrency limit of an account and Region
# Cold starts with a configured environment set os.environ: one at a time, across every function.
_COLD_START_LOCK = threading.Lock()
_PAST_DEADLINE = 1.0  # a waiting cold start gives up this long after its invocation timed out (so it did)


@dataclass(frozen=True)
class FunctionStats:
    """A snapshot of the function's counters, whichever trigger invoked it."""

    invocations: int
    in_flight: int
    max_concurrent: int
    environments_created: int
    inits: int  # successful cold starts
    late_threads_running: int  # timed-out handlers whose threads have not returned yet


class LambdaFunction:
    """One function: its settings, its handler, its execution environments and its concurrency."""

    def __init__(
        self,
        settings: FunctionSettings,
        *,
        handler: str | None = None,
        handler_factory: HandlerFactory | None = None,
        environment: Mapping[str, str] | None = None,
        reserved_concurrency: int | None = None,
        region: str | None = None,
        account_id: str = ACCOUNT_ID,
    ) -> None:
        if (handler is None) == (handler_factory is None):
            raise ValueError("give exactly one of handler ('module.attribute') or handler_factory")
        if reserved_concurrency is not None and not 0 <= reserved_concurrency <= ACCOUNT_CONCURRENCY:
            raise ValueError(
                f"ReservedConcurrentExecutions must be between 0 and {ACCOUNT_CONCURRENCY}, got {reserved_concurrency}"
            )
        self.settings = settings
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
        self.account_id = account_id
        self.arn = f"arn:aws:lambda:{self.region}:{account_id}:function:{settings.name}"
        self.reserved_concurrency = reserved_concurrency
        self._factory = handler_factory or _named_handler(handler or "")
        self._environment = dict(environment) if environment is not None else None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(
            ACCOUNT_CONCURRENCY if reserved_concurrency is None else max(reserved_concurrency, 1)
        )
        self._invocations = 0
        self._in_flight = 0
        self._max_concurrent = 0
        self._inits = 0
        self._runner = FunctionRunner(
            settings, self._cold_start_factory(), function_arn=self.arn, on_init=self._count_init
        )

    # ------------------------------------------------------------------ configuration
    @property
    def environment(self) -> dict[str, str] | None:
        return dict(self._environment) if self._environment is not None else None

    def update_configuration(self, environment: Mapping[str, str]) -> None:
        """UpdateFunctionConfiguration of the environment variables: new invocations start cold with them."""
        with self._lock:
            self._environment = dict(environment)
        self._runner.discard_environments(self._cold_start_factory())

    def _cold_start_factory(self) -> HandlerFactory:
        factory, configured = self._factory, self.environment

        def cold_start() -> Handler:
            if configured is None:
                return factory()
            # Waiting for another environment's cold start never outlives this invocation: a thread whose
            # invocation timed out meanwhile gives up instead of initialising an environment nobody will use.
            deadline = invocation_deadline()
            wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic()) + _PAST_DEADLINE
            if not _COLD_START_LOCK.acquire(timeout=wait):
                raise TimeoutError("the invocation timed out while its execution environment waited to initialise")
            try:
                with environment(configured):
                    return factory()
            finally:
                _COLD_START_LOCK.release()

        return cold_start

    # ------------------------------------------------------------------ concurrency
    def reserve(self, timeout: float | None = None) -> bool:
        """Takes one of the function's concurrency slots (False when none came free within ``timeout``)."""
        if self.reserved_concurrency == 0:
            return False  # reserved concurrency 0: the function is throttled, nothing runs
        return self._slots.acquire(timeout=timeout)

    def release(self) -> None:
        self._slots.release()

    def run(self, event: dict[str, Any]) -> FunctionResult:
        """One invocation in a slot the caller has reserved (and releases afterwards)."""
        with self._lock:
            self._invocations += 1
            self._in_flight += 1
            self._max_concurrent = max(self._max_concurrent, self._in_flight)
        try:
            return self._runner.invoke(event)
        finally:
            with self._lock:
                self._in_flight -= 1

    def invoke(self, event: dict[str, Any], timeout: float | None = None) -> FunctionResult | None:
        """Waits for a slot (at most ``timeout`` seconds: None when none came free), runs, gives it back."""
        if not self.reserve(timeout):
            return None
        try:
            return self.run(event)
        finally:
            self.release()

    # ------------------------------------------------------------------ observing
    def stats(self) -> FunctionStats:
        with self._lock:
            return FunctionStats(
                invocations=self._invocations,
                in_flight=self._in_flight,
                max_concurrent=self._max_concurrent,
                environments_created=self._runner.environments_created,
                inits=self._inits,
                late_threads_running=self._runner.late_threads_running(),
            )

    @property
    def log_group_name(self) -> str:
        return self._runner.log_group_name

    def _count_init(self) -> None:
        with self._lock:
            self._inits += 1

    def __repr__(self) -> str:
        return f"LambdaFunction({self.settings.name!r}, reserved_concurrency={self.reserved_concurrency})"


def _named_handler(handler: str) -> HandlerFactory:
    """Lambda's Handler setting, ``module.attribute`` (the module may be dotted)."""
    module, _, attribute = handler.rpartition(".")
    if not module or not attribute:
        raise ValueError(f"Handler must be 'module.attribute', got {handler!r}")
    return environment_factory(module, attribute)
