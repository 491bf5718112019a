"""SQS message move tasks (StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask), which moto 5.2.5
does not implement, modelled on the SQS API reference and on answers AWS gave to the same calls:

- the source must be a dead-letter queue of another queue (``InvalidParameterValue``: "Source queue must be
  configured as a Dead Letter Queue."); a missing source or destination is ``ResourceNotFoundException`` (404);
- one active task per source queue: a second start while one runs is ``InvalidParameterValue`` ("There is
  already a task running. Only one active task is allowed for a source queue arn at a given time.");
- the task moves as many messages as were visible at its start, at most ``MaxNumberOfMessagesPerSecond``
  (1..500; when not given, the sandbox uses the maximum) per second of sandbox time, in the background;
- ListMessageMoveTasks answers the most recent tasks of a source, newest first (``MaxResults`` 1..10,
  default 1). ``TaskHandle`` is only populated while a task is RUNNING; ``DestinationArn`` and
  ``MaxNumberOfMessagesPerSecond`` only when the start gave them; ``FailureReason`` only for FAILED;
- statuses RUNNING, CANCELLING, CANCELLED, COMPLETED, FAILED; a queue deleted under a running task fails it
  with ``AWS.SimpleQueueService.NonExistentQueue``; cancelling keeps what was already moved.

Where AWS is not documented the sandbox chooses, and says so: moto keeps no record of a dead-lettered
message's original queue, so without ``DestinationArn`` messages go to the DLQ's only source queue (several
source queues fail the task with ``CouldNotDetermineMessageSource``); cancelling a task that is no longer
RUNNING answers ``ResourceNotFoundException`` "Task does not exist." (its handle is no longer listed either);
a message in flight in the DLQ (received by someone, not deleted) is waited for until it is visible again or
deleted, so a task ends when it moved its count or the DLQ is empty.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.clock import SandboxClock

MAX_RATE = 500  # messages per second, AWS's maximum for MaxNumberOfMessagesPerSecond
MAX_RESULTS = 10
MOVES_PER_LOCK = 100  # messages moved per hold of the sandbox lock, so other callers are not stalled
TICK_SECONDS = 0.01  # sandbox seconds between two rounds of moves
MAX_WAIT_SECONDS = 0.05  # real seconds: a slowed clock, a cancel or a stop is noticed this soon
NON_EXISTENT_QUEUE = "AWS.SimpleQueueService.NonExistentQueue"
NO_MESSAGE_SOURCE = "CouldNotDetermineMessageSource"


class Status(StrEnum):
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class MoveTaskError(Exception):
    """An SQS error answer: HTTP status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> MoveTaskError:
    return MoveTaskError(400, "InvalidParameterValue", message)


def _not_found(message: str) -> MoveTaskError:
    return MoveTaskError(404, "ResourceNotFoundException", message)


@dataclass
class MoveTask:
    task_id: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    started_ms: int
    started_at: float  # sandbox clock
    to_move: int
    moved: int = 0
    status: Status = Status.RUNNING
    failure_reason: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def handle(self) -> str:
        document = json.dumps({"taskId": self.task_id, "sourceArn": self.source_arn}, separators=(",", ":"))
        return base64.b64encode(document.encode()).decode()

    def entry(self) -> dict[str, Any]:
        """The task as ListMessageMoveTasks shows it."""
        entry: dict[str, Any] = {
            "Status": self.status.value,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.status is Status.RUNNING:
            entry["TaskHandle"] = self.handle
        if self.destination_arn:
            entry["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            entry["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.status is Status.FAILED and self.failure_reason:
            entry["FailureReason"] = self.failure_reason
        return entry


def _queue(arn: str, parameter: str) -> Any:
    """moto's queue for an SQS ARN (account and Region from the ARN), or the error AWS answers."""
    from moto.sqs.exceptions import QueueDoesNotExist  # noqa: PLC0415 - moto loads lazily
    from moto.sqs.models import sqs_backends  # noqa: PLC0415

    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"]:
        raise _invalid(f"Value {arn} for parameter {parameter} is invalid. Reason: not an SQS queue ARN.")
    _, _, _, region, account, name = parts
    try:
        return sqs_backends[account][region].get_queue(name)
    except QueueDoesNotExist:
        raise _not_found(f"The resource that you specified for the {parameter} parameter doesn't exist.") from None


def _source_queues(dlq: Any) -> list[Any]:
    from moto.sqs.models import sqs_backends  # noqa: PLC0415

    return list(sqs_backends[dlq.account_id][dlq.region].list_dead_letter_source_queues(dlq.name))


class MessageMoveTasks:
    """The move tasks of one running sandbox; every read and write of moto's state holds the sandbox lock."""

    def __init__(self, clock: SandboxClock, lock: threading.RLock) -> None:
        self._clock = clock
        self._lock = lock
        self._tasks: dict[str, list[MoveTask]] = {}  # source ARN -> tasks, oldest first
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self, source_arn: str, destination_arn: str | None, rate: int | None) -> str:
        with self._lock:
            if rate is not None and not 1 <= int(rate) <= MAX_RATE:
                raise _invalid(
                    "Value for parameter MaxNumberOfMessagesPerSecond is invalid."
                    f" Reason: You must enter a number that's between 1 and {MAX_RATE}."
                )
            source = _queue(source_arn, "SourceArn")
            if not _source_queues(source):
                raise _invalid("Source queue must be configured as a Dead Letter Queue.")
            if destination_arn:
                _queue(destination_arn, "DestinationArn")
            if any(task.status in (Status.RUNNING, Status.CANCELLING) for task in self._tasks.get(source_arn, [])):
                raise _invalid(
                    "There is already a task running. Only one active task is allowed for a source queue arn"
                    " at a given time."
                )
            task = MoveTask(
                task_id=str(uuid.uuid4()),
                source_arn=source_arn,
                destination_arn=destination_arn or None,
                rate=int(rate) if rate is not None else None,
                started_ms=int(self._clock.now() * 1000),
                started_at=self._clock.now(),
                to_move=source.approximate_number_of_messages,
            )
            self._tasks.setdefault(source_arn, []).append(task)
        thread = threading.Thread(target=self._run, args=(task,), name=f"sqs-move-{task.task_id[:8]}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return task.handle

    def list(self, source_arn: str, max_results: int | None) -> list[dict[str, Any]]:
        with self._lock:
            if max_results is not None and not 1 <= int(max_results) <= MAX_RESULTS:
                raise _invalid(
                    "Value for parameter MaxResults is invalid."
                    f" Reason: You must enter a number that's between 1 and {MAX_RESULTS}."
                )
            _queue(source_arn, "SourceArn")
            newest_first = self._tasks.get(source_arn, [])[::-1]
            return [task.entry() for task in newest_first[: int(max_results or 1)]]

    def cancel(self, handle: str) -> int:
        with self._lock:
            try:
                decoded = json.loads(base64.b64decode(handle, validate=True))
                task_id, source_arn = str(decoded["taskId"]), str(decoded["sourceArn"])
            except (binascii.Error, ValueError, KeyError, TypeError):
                raise _invalid("Value for parameter TaskHandle is invalid.") from None
            _queue(source_arn, "SourceArn")
            task = next((t for t in self._tasks.get(source_arn, []) if t.task_id == task_id), None)
            if task is None or task.status is not Status.RUNNING:
                raise _not_found("Task does not exist.")
            task.status = Status.CANCELLING
            task.cancel.set()
            return task.moved

    def stop(self) -> None:
        """Ends the movers with the sandbox (their tasks stay as they were)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)

    # ------------------------------------------------------------------ the mover
    def _run(self, task: MoveTask) -> None:
        rate = task.rate or MAX_RATE
        while not self._stopping.is_set():
            with self._lock:
                if task.cancel.is_set():
                    task.status = Status.CANCELLED
                    return
                allowed = int((self._clock.now() - task.started_at) * rate) - task.moved
                try:
                    finished = self._move(task, min(allowed, MOVES_PER_LOCK))
                except MoveTaskError as error:
                    task.status, task.failure_reason = Status.FAILED, error.code
                    return
                if finished:
                    task.status = Status.COMPLETED
                    return
            self._stopping.wait(min(self._clock.real_seconds(TICK_SECONDS), MAX_WAIT_SECONDS))

    def _move(self, task: MoveTask, count: int) -> bool:
        """Moves up to ``count`` visible messages; True when the task is done: it moved as many as the source
        held at its start, or the source is empty (a message in flight there is waited for)."""
        try:
            source = _queue(task.source_arn, "SourceArn")
            destination = self._destination(task, source)
        except MoveTaskError as error:
            if error.code == "ResourceNotFoundException":
                raise MoveTaskError(400, NON_EXISTENT_QUEUE, error.message) from None
            raise
        for message in source.messages[: max(0, min(count, task.to_move - task.moved))]:
            destination.add_message(_copy_for(destination, message))
            source._messages.remove(message)
            source.pending_messages.discard(message)
            task.moved += 1
        return task.moved >= task.to_move or not source._messages

    def _destination(self, task: MoveTask, source: Any) -> Any:
        if task.destination_arn:
            return _queue(task.destination_arn, "DestinationArn")
        sources = _source_queues(source)
        if len(sources) != 1:
            raise MoveTaskError(400, NO_MESSAGE_SOURCE, "the message's source queue cannot be determined")
        return sources[0]


def _copy_for(queue: Any, message: Any) -> Any:
    """A new message in ``queue`` with the moved one's body and attributes (new id, receive count 0)."""
    from moto.sqs.models import Message  # noqa: PLC0415

    copy = Message(str(uuid.uuid4()), message.body)
    copy.message_attributes = message.message_attributes
    if queue.fifo_queue:
        copy.group_id, copy.deduplication_id = message.group_id, message.deduplication_id
    copy.mark_sent()
    return copy


# ===================================================================================================
# moto wiring: three SQSResponse methods that answer from the running sandbox's MessageMoveTasks.
# Without a running sandbox they answer as moto does for an unknown action.
# ===================================================================================================

_engine: MessageMoveTasks | None = None


def install(clock: SandboxClock, lock: threading.RLock) -> MessageMoveTasks:
    """Starts the move tasks of one sandbox and wires moto's SQS responses to them."""
    global _engine  # noqa: PLW0603 - moto's state is process-global, so is ours
    from moto.sqs.responses import SQSResponse  # noqa: PLC0415

    for name, method in _ACTIONS.items():
        setattr(SQSResponse, name, method)
    _engine = MessageMoveTasks(clock, lock)
    return _engine


def uninstall() -> None:
    """Ends the running sandbox's move tasks; the actions then answer as moto does without them."""
    global _engine  # noqa: PLW0603
    if _engine is not None:
        _engine.stop()
        _engine = None


def _respond(call: Callable[[MessageMoveTasks], dict[str, Any]]) -> Any:
    """``call(engine)``'s result as moto's answer; an error becomes SQS's JSON error with AWS's HTTP status."""
    from moto.core.responses import ActionResult  # noqa: PLC0415

    if _engine is None:
        raise NotImplementedError("message move tasks need a running sandbox")
    try:
        return ActionResult(call(_engine))
    except MoveTaskError as error:
        body = json.dumps({"__type": f"com.amazonaws.sqs#{error.code}", "message": error.message})
        headers = {
            "status": str(error.status),
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-query-error": f"{error.code};Sender",
        }
        return body, headers


def _start_message_move_task(self: Any) -> Any:
    source, destination, rate = (
        self._get_param("SourceArn"),
        self._get_param("DestinationArn"),
        self._get_param("MaxNumberOfMessagesPerSecond"),
    )
    return _respond(lambda engine: {"TaskHandle": engine.start(source, destination, rate)})


def _list_message_move_tasks(self: Any) -> Any:
    source, max_results = self._get_param("SourceArn"), self._get_param("MaxResults")
    return _respond(lambda engine: {"Results": engine.list(source, max_results)})


def _cancel_message_move_task(self: Any) -> Any:
    handle = self._get_param("TaskHandle")
    return _respond(lambda engine: {"ApproximateNumberOfMessagesMoved": engine.cancel(handle)})


_ACTIONS = {
    "start_message_move_task": _start_message_move_task,
    "list_message_move_tasks": _list_message_move_tasks,
    "cancel_message_move_task": _cancel_message_move_task,
}
