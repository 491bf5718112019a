"""The SQS trigger of Lambda (an event source mapping), emulated against any SQS endpoint over plain boto3.

moto 5.2.5 cannot run Lambda code without Docker (and with Docker off its mapping deletes messages
without running anything), so this module plays the Lambda service's part: it polls a queue, builds
events shaped exactly like Lambda's SQS events, calls a Python handler with a Lambda-like context, and
deletes or leaves the messages the way Lambda does::

    mapping = EventSourceMappingSettings(function_response_types=["ReportBatchItemFailures"])
    with SqsTrigger(queue_url, handler, function=FunctionSettings("my-function", timeout=30), mapping=mapping):
        ...  # messages sent to the queue are handled in background threads

The function is a :class:`sandbox.lambda_function.LambdaFunction` (given, so other triggers such as a
schedule share its execution environments and concurrency, or made from ``handler`` / ``handler_factory``
and the :class:`FunctionSettings` for this trigger alone).

Semantics honoured (AWS Lambda Developer Guide, "Using Lambda with Amazon SQS"; the settings and their
validation are in ``sandbox.event_source_mapping``):

* ``BatchSize`` (1..10000, default 10), gathered with as many ReceiveMessage calls (10 messages each) as
  needed; ``MaximumBatchingWindowInSeconds`` (0..300) keeps gathering until the batch is full or the
  window, which starts with the first message of the batch, has passed; BatchSize > 10 requires a window.
* ``MaximumConcurrency`` (2..1000, default 2 here): at most that many invocations run at once. A poller
  first takes a free invocation slot and only then receives, so nothing is received that no invocation
  could take. The batch then waits for one of the function's concurrency slots (shared with its other
  triggers); a function throttled past the batch's visibility timeout loses the batch to the queue.
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
* The function timeout and the batching window may be fractional, to keep tests fast.
* Messages still being gathered when the trigger stops are made visible again at once
  (ChangeMessageVisibility 0) instead of waiting out their visibility timeout.
* The 6 MB invocation payload limit is not enforced; environment variables of the Lambda runtime
  (``AWS_LAMBDA_FUNCTION_NAME``...) are not set (they would leak into the whole process).

Running one invocation (execution environments, deadline, concurrency) is the function's job
(``sandbox.lambda_function``, ``sandbox.invocation``); this module is the poller around it. It stays one
file although it is longer than most: gathering, settling, stopping and the counters share one lock and one
semaphore of invocation slots, and the order in which they take them is what keeps the emulation faithful.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sandbox.event_source_mapping import (
    SQS_RECEIVE_MAX,
    EventSourceMappingSettings,
    check_against_queue,
    sqs_event_record,
)
from sandbox.invocation import FAILURE_REASONS, Handler, HandlerFactory, InvocationRecord, judge_batch
from sandbox.lambda_context import FunctionSettings
from sandbox.lambda_function import LambdaFunction

log = logging.getLogger(__name__)

DEFAULT_POLLERS = 5  # Lambda starts with five pollers per SQS mapping
INVOCATION_LOG_LIMIT = 10_000  # invocation records kept for stats(); the oldest go first


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
    environments_created: int = 0  # the function's (shared with its other triggers)
    inits: int = 0  # the function's successful handler-factory calls (cold starts that worked) since reset
    receive_errors: int = 0
    delete_errors: int = 0  # records whose DeleteMessageBatch entry failed (they will be redelivered)
    late_threads_running: int = 0  # the function's timed-out handlers whose threads have not returned yet
    throttled_batches: int = 0  # batches the function's concurrency did not take within their visibility timeout
    invocation_log: tuple[InvocationRecord, ...] = ()

    @property
    def whole_batch_failures(self) -> int:
        return sum(self.batch_failures.values())


class SqsTrigger:
    """Lambda's SQS event source mapping for a Python handler, talking to SQS only through boto3.

    ``queue`` is a queue URL, ARN or name. ``function`` is a :class:`LambdaFunction` (shared with other
    triggers), or the :class:`FunctionSettings` of a function made for this trigger from either ``handler``
    (called as ``handler(event, context)``) or ``handler_factory`` (called without arguments, lazily, the
    first time each execution environment is used; if it raises, that invocation fails as a Lambda init
    error and the next one tries again). ``mapping`` is the event source mapping's settings
    (``EventSourceMappingSettings.from_properties`` reads CloudFormation's).

    The SQS client is a boto3 client for ``endpoint_url`` (default ``AWS_ENDPOINT_URL``) in the Region of
    ``AWS_DEFAULT_REGION``, standard retries. min(MaximumConcurrency, 5) poller threads gather batches,
    asking an empty queue again every ``idle_poll_interval`` seconds at most; each invocation runs in a
    thread of its own. ``on_invocation`` is called with each :class:`InvocationRecord` once the batch is
    settled (from the invocation's thread). Creating a trigger validates the settings against the queue;
    ``start()``/``stop()`` (or ``with``) run it in the background, ``poll_once()`` runs one batch.
    """

    def __init__(
        self,
        queue: str,
        handler: Handler | None = None,
        *,
        handler_factory: HandlerFactory | None = None,
        function: FunctionSettings | LambdaFunction,
        mapping: EventSourceMappingSettings | None = None,
        endpoint_url: str | None = None,
        idle_poll_interval: float = 0.2,
        on_invocation: Callable[[InvocationRecord], None] | None = None,
    ) -> None:
        if isinstance(function, LambdaFunction):
            if handler is not None or handler_factory is not None:
                raise ValueError("a LambdaFunction brings its own handler: give neither handler nor handler_factory")
        elif (handler is None) == (handler_factory is None):
            raise ValueError("give exactly one of handler or handler_factory")
        self.mapping = mapping or EventSourceMappingSettings()
        self._pollers_wanted = min(self.mapping.maximum_concurrency, DEFAULT_POLLERS)
        self._idle_poll_interval = idle_poll_interval
        self._on_invocation = on_invocation

        region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        self._sqs = boto3.client(
            "sqs",
            endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
            region_name=region,
            config=Config(
                max_pool_connections=max(10, self.mapping.maximum_concurrency + self._pollers_wanted + 2),
                retries={"mode": "standard", "max_attempts": 3},
                connect_timeout=5,
                read_timeout=30,
            ),
        )
        self.queue_url, attributes = self._resolve_queue(queue)
        self.queue_arn: str = attributes["QueueArn"]
        self.aws_region = self.queue_arn.split(":")[3]
        if not isinstance(function, LambdaFunction):
            function = LambdaFunction(
                function,
                handler_factory=handler_factory or _constant(handler),  # type: ignore[arg-type]
                region=self.aws_region,
                account_id=self.queue_arn.split(":")[4],
            )
        self.function = function
        check_against_queue(self.mapping, function.settings, attributes)
        self._visibility = float(attributes.get("VisibilityTimeout", "30"))
        self._inits_at_reset = function.stats().inits

        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.mapping.maximum_concurrency)
        self._stopping = threading.Event()
        self._pollers: list[threading.Thread] = []
        self._invocation_threads: set[threading.Thread] = set()
        self._held = 0  # messages received and not yet settled or released
        self._counters = _Counters()
        self._log: list[InvocationRecord] = []

    # ----------------------------------------------------------------------------------------- creation

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
        deadline = time.monotonic() + (self.function.settings.timeout + 5 if timeout is None else timeout)
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
        function = self.function.stats()
        with self._lock:
            c = self._counters
            return TriggerStats(
                invocations=c.invocations,
                records_delivered=c.records_delivered,
                records_succeeded=c.records_succeeded,
                records_failed=c.records_failed,
                records_in_failed_batches=c.records_in_failed_batches,
                batch_failures=dict(c.batch_failures),
                max_parallel_invocations=c.max_parallel,
                invocations_in_flight=c.in_flight,
                environments_created=function.environments_created,
                inits=function.inits - self._inits_at_reset,
                receive_errors=c.receive_errors,
                delete_errors=c.delete_errors,
                late_threads_running=function.late_threads_running,
                throttled_batches=c.throttled_batches,
                invocation_log=tuple(self._log),
            )

    def reset_stats(self) -> None:
        """Zeroes the counters and the log (in-flight invocations keep counting as in flight)."""
        with self._lock:
            in_flight = self._counters.in_flight
            self._counters = _Counters(in_flight=in_flight, max_parallel=in_flight)
            self._log.clear()
            self._inits_at_reset = self.function.stats().inits

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
        if not self._slots.acquire(timeout=max(wait_seconds, self.function.settings.timeout + 5)):
            return None
        try:
            messages = self._gather(time.monotonic() + wait_seconds, stop=threading.Event())
        except BaseException:
            self._slots.release()
            raise
        if not messages or not self._reserve_function(messages, stop=threading.Event()):
            self._slots.release()
            return None
        return self._invoke_and_settle(messages)  # gives the slots back

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
            if not messages or not self._reserve_function(messages, stop=self._stopping):
                self._slots.release()
                continue
            thread = threading.Thread(
                target=self._invoke_and_settle, args=(messages,), name="sqs-trigger-invocation", daemon=True
            )
            with self._lock:
                self._invocation_threads.add(thread)
            thread.start()

    def _reserve_function(self, messages: list[dict[str, Any]], stop: threading.Event) -> bool:
        """One of the function's concurrency slots for a gathered batch (shared with the function's other
        triggers). A function throttled until the batch's visibility timeout runs out loses the batch: its
        messages come back on their own, as on Lambda."""
        deadline = time.monotonic() + max(0.0, self._visibility - self.mapping.maximum_batching_window_in_seconds)
        while not self.function.reserve(timeout=0.05):
            if stop.is_set():
                self._release(messages)
                return False
            if time.monotonic() >= deadline:
                log.warning("sqs trigger: function %s throttled; the batch returns to the queue", self.function)
                with self._lock:
                    self._held -= len(messages)
                    self._counters.throttled_batches += 1
                return False
        return True

    def _give_back_slots(self) -> None:
        self.function.release()
        self._slots.release()

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
            want = min(SQS_RECEIVE_MAX, self.mapping.batch_size - len(messages))
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
                    window_end = time.monotonic() + self.mapping.maximum_batching_window_in_seconds
            now = time.monotonic()
            if len(messages) >= self.mapping.batch_size or (window_end is not None and now >= window_end):
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
        """Runs one invocation and deletes what succeeded; always gives the slots back and the held count."""
        with self._lock:
            self._counters.begin(len(messages))
        try:
            ids = tuple(m["MessageId"] for m in messages)
            event = {"Records": [sqs_event_record(m, self.queue_arn) for m in messages]}
            record = judge_batch(self.function.run(event), ids, self.mapping.report_batch_item_failures)
            if record.whole_batch_failed:
                log.warning(
                    "sqs trigger: invocation %s failed (%s): %s", record.request_id, record.outcome, record.error
                )
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
            self._give_back_slots()

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
            if len(self._log) > INVOCATION_LOG_LIMIT:
                del self._log[: len(self._log) - INVOCATION_LOG_LIMIT]

    def __repr__(self) -> str:
        mapping = self.mapping
        return (
            f"SqsTrigger(queue={self.queue_url!r}, batch_size={mapping.batch_size}, "
            f"window={mapping.maximum_batching_window_in_seconds:g}, concurrency={mapping.maximum_concurrency})"
        )


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
    throttled_batches: int = 0
    receive_errors: int = 0
    delete_errors: int = 0

    def begin(self, records: int) -> None:
        self.in_flight += 1
        self.max_parallel = max(self.max_parallel, self.in_flight)
        self.records_delivered += records


def _constant(handler: Handler) -> HandlerFactory:
    return lambda: handler


def _chunks(items: list[dict[str, Any]], size: int) -> Iterable[list[tuple[int, dict[str, Any]]]]:
    for start in range(0, len(items), size):
        yield list(enumerate(items[start : start + size]))
