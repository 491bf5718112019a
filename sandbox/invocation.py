"""One function invoked the way the Lambda service invokes it, and how each invocation ended.

:class:`FunctionRunner` keeps the function's execution environments: each is initialised by the handler
factory on first use (a cold start), serves one invocation at a time, is reused after it, and is
discarded when an invocation times out or the function's configuration changes. Every invocation runs in a
thread of its own with the function's timeout as deadline and ends as a :class:`FunctionResult`;
:func:`judge_batch` reads that result the way the SQS event source mapping reads it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sandbox.event_source_mapping import InvalidResponse, parse_batch_item_failures
from sandbox.lambda_context import FunctionSettings, LambdaContext, log_stream_name_for

Handler = Callable[[dict[str, Any], LambdaContext], Any]
HandlerFactory = Callable[[], Handler]

_running = threading.local()  # the invocation a worker thread runs


def invocation_deadline() -> float | None:
    """The deadline (``time.monotonic()``) of the invocation this thread runs; None outside an invocation."""
    deadline: float | None = getattr(_running, "deadline", None)
    return deadline


class InvocationOutcome(StrEnum):
    """How an invocation ended; the last four are whole-batch failures (nothing deleted)."""

    SUCCESS = "success"
    PARTIAL = "partial"  # ReportBatchItemFailures named some records: the rest were deleted
    EXCEPTION = "exception"
    TIMEOUT = "timeout"
    INVALID_RESPONSE = "invalid_response"
    INIT_ERROR = "init_error"


FAILURE_REASONS: tuple[InvocationOutcome, ...] = (
    InvocationOutcome.EXCEPTION,
    InvocationOutcome.TIMEOUT,
    InvocationOutcome.INVALID_RESPONSE,
    InvocationOutcome.INIT_ERROR,
)


@dataclass(frozen=True)
class FunctionResult:
    """One invocation as the function ran it, whatever invoked it: SUCCESS, EXCEPTION, TIMEOUT, INIT_ERROR, or
    INVALID_RESPONSE when the return value is not JSON-serialisable (Lambda's ``Runtime.MarshalError``)."""

    request_id: str
    outcome: InvocationOutcome
    response: Any  # the return value as JSON gives it back; None unless SUCCESS
    error: str | None
    started_at: float  # epoch seconds
    duration_seconds: float  # until the handler returned or the timeout passed
    environment_id: int
    cold_start: bool  # the handler factory ran (successfully or not) in this invocation

    @property
    def failed(self) -> bool:
        return self.outcome is not InvocationOutcome.SUCCESS


@dataclass(frozen=True)
class InvocationRecord:
    """One invocation as the trigger saw it."""

    request_id: str
    batch_size: int
    message_ids: tuple[str, ...]
    outcome: InvocationOutcome
    # Records left on the queue: the reported failures, or every record when the whole batch failed.
    failed_message_ids: tuple[str, ...]
    error: str | None
    started_at: float  # epoch seconds
    duration_seconds: float  # until the handler returned or the timeout passed
    environment_id: int
    cold_start: bool  # the handler factory ran (successfully or not) in this invocation

    @property
    def whole_batch_failed(self) -> bool:
        return self.outcome in FAILURE_REASONS


def judge_batch(
    result: FunctionResult, message_ids: tuple[str, ...], report_batch_item_failures: bool
) -> InvocationRecord:
    """What an SQS event source mapping makes of an invocation: which records stay on the queue. With
    ``ReportBatchItemFailures`` the partial batch response is read; without, any normal return succeeds."""
    outcome, failed, error = result.outcome, message_ids, result.error
    if outcome is InvocationOutcome.SUCCESS:
        outcome, failed = InvocationOutcome.SUCCESS, ()
        if report_batch_item_failures:
            try:
                reported = parse_batch_item_failures(result.response, message_ids)
            except InvalidResponse as exc:
                outcome, failed, error = InvocationOutcome.INVALID_RESPONSE, message_ids, str(exc)
            else:
                if reported:
                    outcome, failed = InvocationOutcome.PARTIAL, tuple(i for i in message_ids if i in reported)
    return InvocationRecord(
        request_id=result.request_id,
        batch_size=len(message_ids),
        message_ids=message_ids,
        outcome=outcome,
        failed_message_ids=failed,
        error=error,
        started_at=result.started_at,
        duration_seconds=result.duration_seconds,
        environment_id=result.environment_id,
        cold_start=result.cold_start,
    )


@dataclass
class _Environment:
    """An emulated execution environment: one invocation at a time, initialised on first use."""

    environment_id: int
    log_stream_name: str
    generation: int  # the function's configuration it was created for
    handler: Handler | None = None


class FunctionRunner:
    """Runs invocations of one function; thread-safe, one invocation per environment at a time.

    ``on_init`` is called after each successful cold start (from the invocation's thread, possibly
    after its deadline). ``discard_environments`` is what a configuration change does: environments made
    before it are not used again, so the next invocations start cold.
    """

    def __init__(
        self, function: FunctionSettings, factory: HandlerFactory, *, function_arn: str, on_init: Callable[[], None]
    ) -> None:
        self.function = function
        self.function_arn = function_arn
        self.log_group_name = f"/aws/lambda/{function.name}"
        self._factory = factory
        self._on_init = on_init
        self._lock = threading.Lock()
        self._idle: list[_Environment] = []
        self._created = 0
        self._generation = 0
        self._late_threads: set[threading.Thread] = set()

    @property
    def environments_created(self) -> int:
        with self._lock:
            return self._created

    def late_threads_running(self) -> int:
        """Timed-out handlers whose threads have not returned yet (a thread cannot be killed)."""
        with self._lock:
            return sum(1 for thread in self._late_threads if thread.is_alive())

    def discard_environments(self, factory: HandlerFactory | None = None) -> None:
        """From now on, invocations run in new environments (made by ``factory`` when given)."""
        with self._lock:
            self._generation += 1
            self._idle.clear()
            if factory is not None:
                self._factory = factory

    def invoke(self, event: dict[str, Any]) -> FunctionResult:
        """Runs the handler on ``event`` within the function timeout."""
        environment = self._checkout()
        request_id = str(uuid.uuid4())
        context = LambdaContext(
            function_name=self.function.name,
            function_version=self.function.version,
            invoked_function_arn=self.function_arn,
            memory_limit_in_mb=self.function.memory_size,
            aws_request_id=request_id,
            log_group_name=self.log_group_name,
            log_stream_name=environment.log_stream_name,
            timeout_seconds=self.function.timeout,
        )
        box: dict[str, Any] = {}
        done = threading.Event()
        factory = self._factory
        deadline = time.monotonic() + self.function.timeout

        def run() -> None:
            _running.deadline = deadline
            try:
                if environment.handler is None:
                    box["cold_start"] = True
                    try:
                        environment.handler = factory()
                    except BaseException as exc:
                        box["init_error"] = exc
                        return
                    self._on_init()
                box["value"] = environment.handler(event, context)
            except BaseException as exc:
                box["error"] = exc
            finally:
                done.set()

        started_at, started = time.time(), time.monotonic()
        worker = threading.Thread(target=run, name=f"lambda-{self.function.name}-{request_id[:8]}", daemon=True)
        worker.start()
        finished = done.wait(max(0.0, deadline - time.monotonic()))
        duration = time.monotonic() - started
        response: Any = None
        error: str | None
        if not finished:
            with self._lock:
                self._late_threads.add(worker)
            # Lambda discards an environment whose invocation timed out; the next one starts cold.
            outcome, error = InvocationOutcome.TIMEOUT, f"Task timed out after {self.function.timeout:g} seconds"
        else:
            self._checkin(environment)
            outcome, response, error = _outcome(box)
        return FunctionResult(
            request_id=request_id,
            outcome=outcome,
            response=response,
            error=error,
            started_at=started_at,
            duration_seconds=duration,
            environment_id=environment.environment_id,
            cold_start=bool(box.get("cold_start")),
        )

    def _checkout(self) -> _Environment:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self._created += 1
            number, generation = self._created, self._generation
        return _Environment(number, log_stream_name_for(self.function.version), generation)

    def _checkin(self, environment: _Environment) -> None:
        with self._lock:
            if environment.generation == self._generation:
                self._idle.append(environment)


def _outcome(box: dict[str, Any]) -> tuple[InvocationOutcome, Any, str | None]:
    if "init_error" in box:
        return InvocationOutcome.INIT_ERROR, None, _describe(box["init_error"])
    if "error" in box:
        return InvocationOutcome.EXCEPTION, None, _describe(box["error"])
    try:
        return InvocationOutcome.SUCCESS, json.loads(json.dumps(box.get("value"))), None
    except (TypeError, ValueError) as exc:
        return InvocationOutcome.INVALID_RESPONSE, None, f"Runtime.MarshalError: {exc}"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
