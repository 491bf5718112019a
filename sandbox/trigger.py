"""The SQS trigger of Lambda (an event source mapping), emulated against any SQS endpoint over plain boto3.

moto 5.2.5 cannot run Lambda code without Docker (and with Docker off its mapping deletes messages
without running anything), so this module plays the Lambda service's part: it polls a queue, builds
events shaped exactly like Lambda's SQS events, calls a Python handler with a Lambda-like context, and
deletes or leaves the messages the way Lambda does::

    with SqsTrigger(queue_url, handler, function_timeout=30, function_response_types=["ReportBatchItemFailures"]):
        ...  # messages sent to the queue are handled in background threads

Semantics honoured (see /work/shared/reference/aws-facts.md, "Lambda SQS event source mapping"):

* ``BatchSize`` (1..10000, default 10), gathered with as many ReceiveMessage calls (10 messages each) as
  needed; ``MaximumBatchingWindowInSeconds`` (0..300) keeps gathering until the batch is full or the
  window, which starts with the first message of the batch, has passed; BatchSize > 10 requires a window.
* ``MaximumConcurrency`` (2..1000, default 2 here): at most that many invocations run at once. A poller
  first takes a free invocation slot and only then receives, so nothing is received that no invocation
  could take.
* ``FunctionResponseTypes: [ReportBatchItemFailures]``: ``{"batchItemFailures": [{"itemIdentifier": id}]}``
  deletes the other records and leaves the listed ones to reappear after the queue's visibility timeout
  (so the queue's RedrivePolicy moves them to the DLQ after maxReceiveCount receives). An empty list, a
  missing key or ``None`` means all succeeded; a response that is not a JSON object, a malformed entry,
  an empty or unknown identifier fails the whole batch. Without it any normal return deletes the batch.
* A raised exception, a function timeout, an init (handler factory) error or a return value that is
  not JSON-serialisable (Lambda's ``Runtime.MarshalError``) fails the whole batch: nothing is deleted.
* Validation at creation as CreateEventSourceMapping does (``ValueError`` naming the setting), including
  function timeout <= the queue's VisibilityTimeout.

Deviations, on purpose:

* Long polling is emulated on the client side: ReceiveMessage is always sent with ``WaitTimeSeconds=0``
  and empty answers are retried after a short, growing pause. moto's server-side long poll sleeps while
  the embedded sandbox holds its global request lock, which would stall every other caller.
* A timed-out handler cannot be killed (it is a thread). Its batch fails at the deadline exactly as on
  Lambda and its eventual result is discarded, but the thread keeps running until the handler returns,
  where Lambda would freeze and discard the sandbox. The execution environment it ran in is discarded, so
  the next invocation initialises a fresh one. ``TriggerStats.late_threads_running`` counts such threads.
* The function timeout may be fractional (Lambda: whole seconds 1..900) to keep tests fast.
* Messages still being gathered when the trigger stops are made visible again at once
  (ChangeMessageVisibility 0) instead of waiting out their visibility timeout.
* The 6 MB invocation payload limit is not enforced; environment variables of the Lambda runtime
  (``AWS_LAMBDA_FUNCTION_NAME``...) are not set (they would leak into the whole process).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], "LambdaContext"], Any]
HandlerFactory = Callable[[], Handler]

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
# Limits of CreateEventSourceMapping and of the Lambda function.
MAX_BATCH_SIZE = 10_000
MAX_FIFO_BATCH_SIZE = 10
MAX_BATCHING_WINDOW = 300
MIN_CONCURRENCY, MAX_CONCURRENCY = 2, 1000
MAX_FUNCTION_TIMEOUT = 900
SQS_RECEIVE_MAX = 10  # MaxNumberOfMessages of one ReceiveMessage / entries of one *Batch call
DEFAULT_POLLERS = 5  # Lambda starts with five pollers per SQS mapping


class Outcome(StrEnum):
    """How an invocation ended; the last four are whole-batch failures (nothing deleted)."""

    SUCCESS = "success"
    PARTIAL = "partial"  # ReportBatchItemFailures named some records: the rest were deleted
    EXCEPTION = "exception"
    TIMEOUT = "timeout"
    INVALID_RESPONSE = "invalid_response"
    INIT_ERROR = "init_error"


FAILURE_REASONS: tuple[Outcome, ...] = (
    Outcome.EXCEPTION,
    Outcome.TIMEOUT,
    Outcome.INVALID_RESPONSE,
    Outcome.INIT_ERROR,
)


class LambdaContext:
    """The context object of the Python runtime: the attributes Powertools and handlers read."""

    def __init__(
        self,
        *,
        function_name: str = "asg-namer",
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
        """Every argument has a default, so handler unit tests can build one with ``LambdaContext()``."""
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = (
            invoked_function_arn or f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        )
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = log_group_name or f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name or _log_stream_name(function_version)
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function timeout, counting down from the start of the invocation."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r})"


@dataclass(frozen=True)
class InvocationRecord:
    """One invocation as the trigger saw it."""

    request_id: str
    batch_size: int
    message_ids: tuple[str, ...]
    outcome: Outcome
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


@dataclass(frozen=True)
class TriggerStats:
    """A consistent snapshot of the trigger's counters (take a new one with ``SqsTrigger.stats()``)."""

    invocations: int = 0
    records_delivered: int = 0  # records handed to the handler; a redelivered message counts each time
    records_succeeded: int = 0  # records the trigger deleted (or tried to: see delete_errors)
    records_failed: int = 0  # records named in batchItemFailures (partial failures)
    records_in_failed_batches: int = 0  # records of whole-batch failures
    batch_failures: Mapping[str, int] = field(default_factory=lambda: {str(r): 0 for r in FAILURE_REASONS})
    max_parallel_invocations: int = 0
    invocations_in_flight: int = 0
    environments_created: int = 0
    inits: int = 0  # successful handler-factory calls (cold starts that worked)
    receive_errors: int = 0
    delete_errors: int = 0  # records whose DeleteMessageBatch entry failed (they will be redelivered)
    late_threads_running: int = 0  # timed-out handlers whose threads have not returned yet
    invocation_log: tuple[InvocationRecord, ...] = ()

    @property
    def whole_batch_failures(self) -> int:
        return sum(self.batch_failures.values())


class _InvalidResponse(Exception):
    """The function's answer is not a valid partial batch response."""


@dataclass
class _Environment:
    """An emulated execution environment: one invocation at a time, initialised on first use."""

    environment_id: int
    log_stream_name: str
    handler: Handler | None = None


class SqsTrigger:
    """Lambda's SQS event source mapping for a Python handler, talking to SQS only through boto3.

    ``queue`` is a queue URL, ARN or name. Give either ``handler`` (called as ``handler(event, context)``)
    or ``handler_factory`` (called without arguments, lazily, the first time each execution environment
    is used; if it raises, that invocation fails as a Lambda init error and the next one tries again).
    Settings carry the names of CreateEventSourceMapping (see :meth:`from_mapping`).

    The SQS client is ``sqs_client`` if given, else a boto3 client for ``endpoint_url`` (default
    ``AWS_ENDPOINT_URL``) and ``region_name`` (default ``AWS_DEFAULT_REGION``), standard retries.
    ``pollers`` (default min(MaximumConcurrency, 5)) threads gather batches; each invocation runs in
    a thread of its own. ``on_invocation`` is called with each :class:`InvocationRecord` once the batch
    is settled (from the invocation's thread). Creating a trigger validates the settings and reads the
    queue; ``start()``/``stop()`` (or ``with``) run it in the background, ``poll_once()`` runs one batch.
    """

    def __init__(
        self,
        queue: str,
        handler: Handler | None = None,
        *,
        handler_factory: HandlerFactory | None = None,
        batch_size: int = 10,
        maximum_batching_window_in_seconds: float = 0,
        maximum_concurrency: int = 2,
        function_response_types: Sequence[str] = (),
        function_timeout: float = 3.0,
        function_name: str = "asg-namer",
        function_version: str = "$LATEST",
        memory_limit_in_mb: int = 128,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        sqs_client: Any = None,
        pollers: int | None = None,
        idle_poll_interval: float = 0.2,
        invocation_log_limit: int = 10_000,
        on_invocation: Callable[[InvocationRecord], None] | None = None,
    ) -> None:
        if (handler is None) == (handler_factory is None):
            raise ValueError("give exactly one of handler or handler_factory")
        _validate_settings(batch_size, maximum_batching_window_in_seconds, maximum_concurrency, function_response_types)
        if not 0 < function_timeout <= MAX_FUNCTION_TIMEOUT:
            raise ValueError(f"Timeout: function timeout must be > 0 and <= 900 seconds, got {function_timeout}")
        self.batch_size = batch_size
        self.maximum_batching_window_in_seconds = float(maximum_batching_window_in_seconds)
        self.maximum_concurrency = maximum_concurrency
        self.function_response_types = tuple(function_response_types)
        self.report_batch_item_failures = REPORT_BATCH_ITEM_FAILURES in self.function_response_types
        self.function_timeout = float(function_timeout)
        self.function_name = function_name
        self.function_version = function_version
        self.memory_limit_in_mb = memory_limit_in_mb
        self._factory: HandlerFactory = handler_factory or _constant(handler)  # type: ignore[arg-type]
        self._pollers_wanted = max(1, min(maximum_concurrency, pollers or DEFAULT_POLLERS))
        self._idle_poll_interval = idle_poll_interval
        self._log_limit = invocation_log_limit
        self._on_invocation = on_invocation

        region = region_name or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        self._sqs = sqs_client or boto3.client(
            "sqs",
            endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
            region_name=region,
            config=Config(
                max_pool_connections=max(10, maximum_concurrency + self._pollers_wanted + 2),
                retries={"mode": "standard", "max_attempts": 3},
                connect_timeout=5,
                read_timeout=30,
            ),
        )
        self.queue_url, attributes = self._resolve_queue(queue)
        self.queue_arn: str = attributes["QueueArn"]
        self.aws_region = self.queue_arn.split(":")[3]
        account = self.queue_arn.split(":")[4]
        self.function_arn = f"arn:aws:lambda:{self.aws_region}:{account}:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self._validate_against_queue(attributes)

        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(maximum_concurrency)
        self._stopping = threading.Event()
        self._pollers: list[threading.Thread] = []
        self._invocation_threads: set[threading.Thread] = set()
        self._late_threads: set[threading.Thread] = set()
        self._idle_environments: list[_Environment] = []
        self._environment_counter = 0
        self._held = 0  # messages received and not yet settled or released
        self._counters = _Counters()
        self._log: list[InvocationRecord] = []

    # ----------------------------------------------------------------------------------------- creation

    @classmethod
    def from_mapping(
        cls,
        queue: str,
        handler: Handler | None = None,
        *,
        mapping: Mapping[str, Any],
        function_timeout: float = 3.0,
        **kwargs: Any,
    ) -> SqsTrigger:
        """Builds a trigger from CreateEventSourceMapping / CloudFormation ``AWS::Lambda::EventSourceMapping``
        properties: ``BatchSize``, ``MaximumBatchingWindowInSeconds``, ``ScalingConfig.MaximumConcurrency``,
        ``FunctionResponseTypes``."""
        scaling = mapping.get("ScalingConfig") or {}
        return cls(
            queue,
            handler,
            batch_size=int(mapping.get("BatchSize", 10)),
            maximum_batching_window_in_seconds=float(mapping.get("MaximumBatchingWindowInSeconds", 0)),
            maximum_concurrency=int(scaling.get("MaximumConcurrency", kwargs.pop("maximum_concurrency", 2))),
            function_response_types=list(mapping.get("FunctionResponseTypes", [])),
            function_timeout=function_timeout,
            **kwargs,
        )

    def _resolve_queue(self, queue: str) -> tuple[str, dict[str, str]]:
        try:
            if queue.startswith("arn:"):
                parts = queue.split(":")
                url = self._sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            elif "://" in queue:
                url = queue
            else:
                url = self._sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        except ClientError as exc:
            raise ValueError(f"EventSourceArn: cannot read queue {queue!r}: {exc}") from exc
        return url, attributes

    def _validate_against_queue(self, attributes: Mapping[str, str]) -> None:
        visibility = int(attributes.get("VisibilityTimeout", "30"))
        if self.function_timeout > visibility:
            raise ValueError(
                f"Timeout: the function timeout ({self.function_timeout:g} s) exceeds the queue's VisibilityTimeout "
                f"({visibility} s); messages would reappear while still being processed"
            )
        if attributes.get("FifoQueue", "false").lower() == "true":
            if self.batch_size > MAX_FIFO_BATCH_SIZE:
                raise ValueError(f"BatchSize: at most 10 for a FIFO queue, got {self.batch_size}")
            if self.maximum_batching_window_in_seconds:
                raise ValueError("MaximumBatchingWindowInSeconds: batching window is not supported for FIFO queues")

    # ---------------------------------------------------------------------------------------- lifecycle

    def start(self) -> SqsTrigger:
        """Starts the pollers in background threads."""
        if any(t.is_alive() for t in self._pollers):
            raise RuntimeError("trigger already started")
        self._stopping.clear()
        self._pollers = [
            threading.Thread(target=self._poll_loop, name=f"sqs-trigger-poller-{i}", daemon=True)
            for i in range(self._pollers_wanted)
        ]
        for thread in self._pollers:
            thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stops polling and waits for in-flight invocations, at most ``timeout`` seconds
        (default: the function timeout plus 5 s). Timed-out handlers still running are not waited for."""
        self._stopping.set()
        deadline = time.monotonic() + (self.function_timeout + 5 if timeout is None else timeout)
        for thread in self._pollers:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            invocations = list(self._invocation_threads)
        for thread in invocations:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> SqsTrigger:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._pollers) and not self._stopping.is_set()

    # ---------------------------------------------------------------------------------------- observing

    def stats(self) -> TriggerStats:
        with self._lock:
            c = self._counters
            late = sum(1 for t in self._late_threads if t.is_alive())
            return TriggerStats(
                invocations=c.invocations,
                records_delivered=c.records_delivered,
                records_succeeded=c.records_succeeded,
                records_failed=c.records_failed,
                records_in_failed_batches=c.records_in_failed_batches,
                batch_failures=dict(c.batch_failures),
                max_parallel_invocations=c.max_parallel,
                invocations_in_flight=c.in_flight,
                environments_created=self._environment_counter,
                inits=c.inits,
                receive_errors=c.receive_errors,
                delete_errors=c.delete_errors,
                late_threads_running=late,
                invocation_log=tuple(self._log),
            )

    def reset_stats(self) -> None:
        """Zeroes the counters and the log (in-flight invocations keep counting as in flight)."""
        with self._lock:
            in_flight = self._counters.in_flight
            self._counters = _Counters(in_flight=in_flight, max_parallel=in_flight)
            self._log.clear()

    def wait_until_idle(self, timeout: float = 30.0, interval: float = 0.05) -> bool:
        """True once the queue has no visible, in-flight or delayed message and the trigger holds none and
        runs no invocation; False if that did not happen within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self._idle() and self._queue_empty() and self._idle():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    def drain(self, timeout: float = 30.0) -> None:
        """Like :meth:`wait_until_idle`, but raises ``TimeoutError`` (with the queue's counts) on timeout."""
        if not self.wait_until_idle(timeout):
            counts = self.queue_counts()
            raise TimeoutError(
                f"queue {self.queue_url} not drained within {timeout} s: {counts}, "
                f"held by trigger {self._held}, invocations in flight {self.stats().invocations_in_flight}"
            )

    def queue_counts(self) -> dict[str, int]:
        """ApproximateNumberOfMessages / ...NotVisible / ...Delayed of the source queue."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return {name: int(attributes.get(name, "0")) for name in names}

    def _idle(self) -> bool:
        with self._lock:
            return self._held == 0 and self._counters.in_flight == 0

    def _queue_empty(self) -> bool:
        try:
            return not any(self.queue_counts().values())
        except (ClientError, BotoCoreError):
            return False

    # ------------------------------------------------------------------------------------------ polling

    def poll_once(self, wait_seconds: float = 5.0) -> InvocationRecord | None:
        """Synchronously gathers one batch (waiting up to ``wait_seconds`` for its first message, then
        honouring the batching window), invokes the handler and settles the batch. None if no message came.

        Meant for a trigger that is not started (deterministic tests); it works after ``stop()`` too.
        """
        if not self._slots.acquire(timeout=max(wait_seconds, self.function_timeout + 5)):
            return None
        try:
            messages = self._gather(time.monotonic() + wait_seconds, stop=threading.Event())
        except BaseException:
            self._slots.release()
            raise
        if not messages:
            self._slots.release()
            return None
        return self._invoke_and_settle(messages)  # releases the slot

    def _poll_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            if not self._slots.acquire(timeout=0.1):
                continue
            try:
                messages = self._gather(first_message_deadline=None, stop=self._stopping)
            except Exception as exc:  # a poller must outlive throttling, resets and a deleted queue
                self._slots.release()
                failures += 1
                log.warning("sqs trigger: ReceiveMessage on %s failed: %s", self.queue_url, exc)
                self._stopping.wait(min(0.1 * 2**failures, 2.0))
                continue
            failures = 0
            if not messages:
                self._slots.release()
                continue
            thread = threading.Thread(
                target=self._invoke_and_settle, args=(messages,), name="sqs-trigger-invocation", daemon=True
            )
            with self._lock:
                self._invocation_threads.add(thread)
            thread.start()

    def _gather(self, first_message_deadline: float | None, stop: threading.Event) -> list[dict[str, Any]]:
        """Receives until the batch is full or the window (from the first message) has passed.

        Returns [] when stopping or when ``first_message_deadline`` passes before any message arrives.
        A receive error with messages already held ends the batch early; without, it propagates.
        """
        messages: list[dict[str, Any]] = []
        window_end: float | None = None
        pause = 0.01
        while True:
            if stop.is_set():
                self._release(messages)
                return []
            want = min(SQS_RECEIVE_MAX, self.batch_size - len(messages))
            try:
                received = self._receive(want)
            except (ClientError, BotoCoreError):
                with self._lock:
                    self._counters.receive_errors += 1
                if messages:
                    return messages
                raise
            if received:
                with self._lock:
                    self._held += len(received)
                messages.extend(received)
                pause = 0.01
                if window_end is None:
                    window_end = time.monotonic() + self.maximum_batching_window_in_seconds
            now = time.monotonic()
            if len(messages) >= self.batch_size or (window_end is not None and now >= window_end):
                return messages
            if received:
                continue  # more may be waiting: ask again at once
            limit = self._idle_poll_interval
            if window_end is not None:
                limit = min(limit, window_end - now)
            elif first_message_deadline is not None:
                if now >= first_message_deadline:
                    return []
                limit = min(limit, first_message_deadline - now)
            stop.wait(max(0.0, min(pause, limit)))
            pause = min(pause * 2, self._idle_poll_interval)

    def _receive(self, count: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=0,  # see the module docstring: long polling is emulated here
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Makes messages gathered but never invoked visible again (best effort)."""
        for chunk in _chunks(messages, SQS_RECEIVE_MAX):
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in chunk]
            with contextlib.suppress(ClientError, BotoCoreError):
                self._sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
        with self._lock:
            self._held -= len(messages)

    # --------------------------------------------------------------------------------------- invocation

    def _invoke_and_settle(self, messages: list[dict[str, Any]]) -> InvocationRecord:
        """Runs one invocation and deletes what succeeded; always releases the slot and the held count."""
        with self._lock:
            self._counters.begin(len(messages))
        try:
            record = self._invoke(messages)
            failed = set(record.failed_message_ids)
            delete_errors = self._delete([m for m in messages if m["MessageId"] not in failed])
            self._account(record, delete_errors)
            if self._on_invocation is not None:
                try:
                    self._on_invocation(record)
                except Exception:
                    log.exception("sqs trigger: on_invocation callback failed")
            return record
        finally:
            with self._lock:
                self._held -= len(messages)
                self._counters.in_flight -= 1
                self._invocation_threads.discard(threading.current_thread())
            self._slots.release()

    def _invoke(self, messages: list[dict[str, Any]]) -> InvocationRecord:
        environment = self._checkout_environment()
        request_id = str(uuid.uuid4())
        ids = tuple(m["MessageId"] for m in messages)
        event = {"Records": [self._record(m) for m in messages]}
        context = LambdaContext(
            function_name=self.function_name,
            function_version=self.function_version,
            invoked_function_arn=self.function_arn,
            memory_limit_in_mb=self.memory_limit_in_mb,
            aws_request_id=request_id,
            log_group_name=self.log_group_name,
            log_stream_name=environment.log_stream_name,
            timeout_seconds=self.function_timeout,
        )
        box: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                if environment.handler is None:
                    box["cold_start"] = True
                    try:
                        environment.handler = self._factory()
                    except BaseException as exc:
                        box["init_error"] = exc
                        return
                    with self._lock:
                        self._counters.inits += 1
                box["value"] = environment.handler(event, context)
            except BaseException as exc:
                box["error"] = exc
            finally:
                done.set()

        started_at, started = time.time(), time.monotonic()
        worker = threading.Thread(target=run, name=f"lambda-{self.function_name}-{request_id[:8]}", daemon=True)
        worker.start()
        finished = done.wait(self.function_timeout)
        duration = time.monotonic() - started
        if not finished:
            with self._lock:
                self._late_threads.add(worker)
            # Lambda discards an environment whose invocation timed out; the next one starts cold.
            outcome, failed, error = Outcome.TIMEOUT, ids, f"Task timed out after {self.function_timeout:g} seconds"
        else:
            self._return_environment(environment)
            outcome, failed, error = self._judge(box, ids)
        if outcome in FAILURE_REASONS:
            log.warning("sqs trigger: invocation %s failed (%s): %s", request_id, outcome, error)
        return InvocationRecord(
            request_id=request_id,
            batch_size=len(messages),
            message_ids=ids,
            outcome=outcome,
            failed_message_ids=failed,
            error=error,
            started_at=started_at,
            duration_seconds=duration,
            environment_id=environment.environment_id,
            cold_start=bool(box.get("cold_start")),
        )

    def _judge(self, box: Mapping[str, Any], ids: tuple[str, ...]) -> tuple[Outcome, tuple[str, ...], str | None]:
        if "init_error" in box:
            return Outcome.INIT_ERROR, ids, _describe(box["init_error"])
        if "error" in box:
            return Outcome.EXCEPTION, ids, _describe(box["error"])
        try:
            response = json.loads(json.dumps(box.get("value")))
        except (TypeError, ValueError) as exc:
            return Outcome.INVALID_RESPONSE, ids, f"Runtime.MarshalError: {exc}"
        if not self.report_batch_item_failures:
            return Outcome.SUCCESS, (), None
        try:
            failed = parse_batch_item_failures(response, ids)
        except _InvalidResponse as exc:
            return Outcome.INVALID_RESPONSE, ids, str(exc)
        if not failed:
            return Outcome.SUCCESS, (), None
        return Outcome.PARTIAL, tuple(i for i in ids if i in failed), None

    def _delete(self, messages: list[dict[str, Any]]) -> int:
        """DeleteMessageBatch in chunks of ten; returns how many entries failed."""
        errors = 0
        for chunk in _chunks(messages, SQS_RECEIVE_MAX):
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in chunk]
            try:
                response = self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                log.warning("sqs trigger: DeleteMessageBatch on %s failed: %s", self.queue_url, exc)
                errors += len(entries)
                continue
            errors += len(response.get("Failed", []))
        return errors

    def _account(self, record: InvocationRecord, delete_errors: int) -> None:
        with self._lock:
            c = self._counters
            c.invocations += 1
            c.delete_errors += delete_errors
            if record.outcome in FAILURE_REASONS:
                c.records_in_failed_batches += record.batch_size
                c.batch_failures[str(record.outcome)] += 1
            else:
                c.records_failed += len(record.failed_message_ids)
                c.records_succeeded += record.batch_size - len(record.failed_message_ids)
            self._log.append(record)
            if len(self._log) > self._log_limit:
                del self._log[: len(self._log) - self._log_limit]

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """One element of the event's Records, as Lambda builds it from a ReceiveMessage answer."""
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        record["eventSource"] = "aws:sqs"
        record["eventSourceARN"] = self.queue_arn
        record["awsRegion"] = self.aws_region
        return record

    def _checkout_environment(self) -> _Environment:
        with self._lock:
            if self._idle_environments:
                return self._idle_environments.pop()
            self._environment_counter += 1
            number = self._environment_counter
        return _Environment(number, _log_stream_name(self.function_version))

    def _return_environment(self, environment: _Environment) -> None:
        with self._lock:
            self._idle_environments.append(environment)

    def __repr__(self) -> str:
        return (
            f"SqsTrigger(queue={self.queue_url!r}, batch_size={self.batch_size}, "
            f"window={self.maximum_batching_window_in_seconds:g}, concurrency={self.maximum_concurrency})"
        )


EventSourceMapping = SqsTrigger


def parse_batch_item_failures(response: Any, message_ids: Iterable[str]) -> set[str]:
    """The message IDs a ReportBatchItemFailures response names; raises _InvalidResponse when Lambda would
    fail the whole batch (not an object, list or entries malformed, empty/null/unknown identifier)."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        raise _InvalidResponse(f"response is not a JSON object: {type(response).__name__}")
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise _InvalidResponse("batchItemFailures is not a list")
    known = set(message_ids)
    failed: set[str] = set()
    for entry in failures:
        if not isinstance(entry, dict) or "itemIdentifier" not in entry:
            raise _InvalidResponse(f"malformed batchItemFailures entry: {entry!r}")
        identifier = entry["itemIdentifier"]
        if not isinstance(identifier, str) or not identifier:
            raise _InvalidResponse(f"empty or non-string itemIdentifier: {identifier!r}")
        if identifier not in known:
            raise _InvalidResponse(f"itemIdentifier {identifier!r} is not a message of this batch")
        failed.add(identifier)
    return failed


def _validate_settings(
    batch_size: int, window: float, concurrency: int, function_response_types: Sequence[str]
) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"BatchSize must be an integer between 1 and {MAX_BATCH_SIZE}, got {batch_size!r}")
    if not 0 <= window <= MAX_BATCHING_WINDOW:
        raise ValueError(f"MaximumBatchingWindowInSeconds must be between 0 and 300, got {window!r}")
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not MIN_CONCURRENCY <= concurrency <= MAX_CONCURRENCY
    ):
        raise ValueError(
            f"MaximumConcurrency (ScalingConfig) must be between {MIN_CONCURRENCY} and {MAX_CONCURRENCY}, "
            f"got {concurrency!r}"
        )
    if batch_size > SQS_RECEIVE_MAX and window < 1:
        raise ValueError(
            "MaximumBatchingWindowInSeconds must be at least 1 when BatchSize is greater than 10 "
            f"(BatchSize {batch_size}, window {window!r})"
        )
    if isinstance(function_response_types, str):
        raise ValueError("FunctionResponseTypes must be a list, e.g. ['ReportBatchItemFailures']")
    unknown = [t for t in function_response_types if t != REPORT_BATCH_ITEM_FAILURES]
    if unknown:
        raise ValueError(f"FunctionResponseTypes: only ReportBatchItemFailures is valid, got {unknown!r}")


@dataclass
class _Counters:
    invocations: int = 0
    records_delivered: int = 0
    records_succeeded: int = 0
    records_failed: int = 0
    records_in_failed_batches: int = 0
    batch_failures: dict[str, int] = field(default_factory=lambda: {str(r): 0 for r in FAILURE_REASONS})
    max_parallel: int = 0
    in_flight: int = 0
    inits: int = 0
    receive_errors: int = 0
    delete_errors: int = 0

    def begin(self, records: int) -> None:
        self.in_flight += 1
        self.max_parallel = max(self.max_parallel, self.in_flight)
        self.records_delivered += records


def _log_stream_name(function_version: str) -> str:
    """Lambda's log stream name: date, [version], then the execution environment's id."""
    return f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{function_version}]{uuid.uuid4().hex}"


def _constant(handler: Handler) -> HandlerFactory:
    return lambda: handler


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """SQS's MessageAttributeValue in the camelCase form of Lambda events (binary values base64)."""
    converted: dict[str, Any] = {}
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = _b64(value["BinaryValue"])
    converted["stringListValues"] = list(value.get("StringListValues", []))
    converted["binaryListValues"] = [_b64(v) for v in value.get("BinaryListValues", [])]
    converted["dataType"] = value.get("DataType", "String")
    return converted


def _b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def _chunks(items: list[dict[str, Any]], size: int) -> Iterable[list[tuple[int, dict[str, Any]]]]:
    for start in range(0, len(items), size):
        yield list(enumerate(items[start : start + size]))
