"""``asg-namer redrive``: show what is in the dead-letter queue, then move it back to the source queue.

First a summary of every message looked at (group, instance, age, receive count; bodies that are not
lifecycle notifications are shown as malformed). Then the move: StartMessageMoveTask where the service
supports it (all messages, up to 500 per second; redrive follows the task it started, by its TaskHandle,
never another operator's), otherwise a receive / send / delete loop that sends each message before
deleting it, so nothing is ever lost, and keeps the messages in hand hidden (extending their visibility)
however slow the copy, so none reappears in the DLQ for another reader meanwhile. A crash between send and
delete leaves a duplicate in the source queue, which the handler tolerates (it is idempotent: an instance
already named is skipped, an action already completed is acknowledged). Redrive only after fixing the
cause (see the README's runbook): most DLQ messages carry expired lifecycle tokens, and the handler then
only names the instance. Exit 0 when everything asked for was moved (or the DLQ is empty), 1 when some
messages stayed behind.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cli import lookup
from cli.common import EXIT_OK, Aws, CliError, UsageError, add_aws_options
from handler.messages import MalformedMessage, MessageKind, parse_message

EPILOG = """\
examples:
  asg-namer redrive --stack asg-namer --dry-run      # only the summary
  asg-namer redrive --stack asg-namer
  asg-namer redrive --dlq-url https://sqs.eu-west-1.amazonaws.com/123456789012/asg-namer-dlq --max 50
"""

PEEK_VISIBILITY_SECONDS = 30  # how long a looked-at message stays hidden if we die before releasing it
# Hidden while being copied, renewed every third of it while the copy runs; reappears in the DLQ this long
# after redrive stops (a crash, an error) without having deleted it.
MOVE_VISIBILITY_SECONDS = 60
MOVE_TASK_POLL_SECONDS = 2
MOVE_TASK_LISTED = 10  # ListMessageMoveTasks' maximum
MOVE_TASK_LOOKS = 5  # polls in a row that may miss the task this run started before redrive gives up
ACTIVE_TASK_STATUSES = ("RUNNING", "CANCELLING")
ACTIVE_TASK_ERROR = "already a task running"  # SQS's InvalidParameterValue message for a second task
UNSUPPORTED_CODES = frozenset(
    {"InvalidAction", "UnsupportedOperation", "NotImplemented", "UnknownOperationException", "InvalidParameterValue"}
)
SUMMARY_LINES = 50
SUMMARY_MAX = 1000  # messages looked at for the summary; the move itself has no such cap


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "redrive",
        help=help_text,
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="asg-namer stack whose DlqUrl output names the dead-letter queue")
    source.add_argument("--dlq-url", help="URL of the dead-letter queue")
    parser.add_argument("--to-queue-url", help="queue to move to (default: the DLQ's source queue)")
    parser.add_argument("--max", type=_positive, help="move at most N messages (uses the receive/send/delete path)")
    parser.add_argument("--dry-run", action="store_true", help="print the summary and move nothing")
    add_aws_options(parser)
    parser.set_defaults(run=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


@dataclass(frozen=True)
class Looked:
    """One DLQ message as the summary shows it."""

    message_id: str
    asg: str
    instance: str
    kind: str
    age_seconds: float | None
    receive_count: int


def describe_message(message: dict[str, Any], now: datetime) -> Looked:
    attributes = message.get("Attributes", {})
    receive_count = int(attributes.get("ApproximateReceiveCount", 0) or 0)
    sent_ms = attributes.get("SentTimestamp")
    age = (now.timestamp() * 1000 - int(sent_ms)) / 1000 if sent_ms else None
    try:
        parsed = parse_message(message.get("Body", ""))
    except MalformedMessage as error:
        return Looked(message["MessageId"], "-", "-", f"malformed: {error.reason[:80]}", age, receive_count)
    if parsed.sent_at is not None:
        age = parsed.age_seconds(now)
    kind = {MessageKind.LAUNCHING: "launch", MessageKind.TEST_NOTIFICATION: "test notification"}.get(
        parsed.kind, parsed.kind.value
    )
    return Looked(message["MessageId"], parsed.asg_name or "-", parsed.instance_id or "-", kind, age, receive_count)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    sqs = aws.client("sqs")
    outputs: dict[str, str] = {}
    if args.stack:
        outputs = lookup.stack_outputs(aws, args.stack)
        dlq_url = lookup.output(outputs, lookup.DLQ_URL_KEYS, args.stack)
        assert dlq_url is not None
    else:
        dlq_url = args.dlq_url
    attributes = lookup.queue_attributes(aws, dlq_url, "All")
    dlq_arn = attributes["QueueArn"]
    visible = int(attributes.get("ApproximateNumberOfMessages", 0))
    hidden = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
    print(f"Dead-letter queue {dlq_url}: {visible} message(s) visible, {hidden} in flight")
    if visible == 0:
        later = f" ({hidden} in flight will reappear later.)" if hidden else ""
        print(f"The DLQ is empty; nothing to redrive.{later}")
        return EXIT_OK
    target_url = args.to_queue_url or _source_queue(aws, dlq_url, attributes, outputs)
    target_arn = lookup.queue_attributes(aws, target_url, "QueueArn")["QueueArn"]
    if target_arn == dlq_arn:
        raise UsageError("--to-queue-url is the DLQ itself; give the source queue's URL")
    _print_summary(sqs, dlq_url, limit=min(args.max or visible, SUMMARY_MAX))
    if args.dry_run:
        print(f"dry run: nothing moved; without --dry-run the messages go to {target_url}")
        return EXIT_OK
    if args.max is None and _move_task(aws, dlq_arn, target_arn):
        return EXIT_OK
    return _move_by_copy(sqs, dlq_url, target_url, args.max)


def _source_queue(aws: Aws, dlq_url: str, attributes: dict[str, str], outputs: dict[str, str]) -> str:
    """The queue whose RedrivePolicy points here (ListDeadLetterSourceQueues), else the DLQ's
    RedriveAllowPolicy, else the stack's queue."""
    sqs = aws.client("sqs")
    sources = list(sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", []))
    if len(sources) == 1:
        return str(sources[0])
    if len(sources) > 1:
        raise UsageError(f"{len(sources)} queues use this DLQ ({', '.join(sources)}); pick one with --to-queue-url")
    allow = attributes.get("RedriveAllowPolicy")
    if allow:
        try:
            arns = json.loads(allow).get("sourceQueueArns") or []
        except (ValueError, AttributeError):
            arns = []
        if len(arns) == 1:
            return lookup.queue_url_from_arn(aws, arns[0])
    stack_arn = next((outputs[k] for k in lookup.QUEUE_ARN_KEYS if outputs.get(k)), None)
    if stack_arn:
        return lookup.queue_url_from_arn(aws, stack_arn)
    raise UsageError("cannot tell which queue feeds this DLQ; pass --to-queue-url")


def _print_summary(sqs: Any, dlq_url: str, limit: int) -> None:
    """Receives up to ``limit`` messages to read them (hidden meanwhile), then makes them visible again."""
    looked: dict[str, Looked] = {}
    handles: list[str] = []
    now = datetime.now(UTC)
    empty_polls = 0
    try:
        while len(looked) < limit and empty_polls < 2:
            answer = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=min(10, limit - len(looked)),
                VisibilityTimeout=PEEK_VISIBILITY_SECONDS,
                WaitTimeSeconds=0 if empty_polls == 0 else 1,
                AttributeNames=["All"],
            )
            messages = answer.get("Messages", [])
            empty_polls = 0 if messages else empty_polls + 1
            for message in messages:
                handles.append(message["ReceiptHandle"])
                looked.setdefault(message["MessageId"], describe_message(message, now))
    finally:
        for start in range(0, len(handles), 10):
            _release(sqs, dlq_url, handles[start : start + 10])
    by_group = Counter(row.asg for row in looked.values())
    malformed = sum(1 for row in looked.values() if row.kind.startswith("malformed"))
    print(f"Looked at {len(looked)} message(s) (receive counts include this look):")
    for asg, count in sorted(by_group.items()):
        print(f"  {asg if asg != '-' else '(no group)'}: {count}")
    if malformed:
        print(f"  of which malformed: {malformed} (the handler will drop them again; check who writes to the queue)")
    print(f"\n{'group':<30} {'instance':<21} {'age':>8} {'receives':>8}  kind")
    rows = sorted(looked.values(), key=lambda r: (r.asg, r.instance, r.message_id))
    for row in rows[:SUMMARY_LINES]:
        print(f"{row.asg:<30} {row.instance:<21} {_age(row.age_seconds):>8} {row.receive_count:>8}  {row.kind}")
    if len(rows) > SUMMARY_LINES:
        print(f"... and {len(rows) - SUMMARY_LINES} more")
    print()


def _release(sqs: Any, queue_url: str, handles: list[str]) -> None:
    """Best effort: make received messages visible again now (they reappear by themselves anyway)."""
    if not handles:
        return
    entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(handles)]
    try:
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    except (ClientError, BotoCoreError) as error:
        print(f"note: could not release {len(handles)} message(s) early ({error}); they reappear by themselves")


def _move_task(aws: Aws, dlq_arn: str, target_arn: str) -> bool:
    """StartMessageMoveTask and wait for that task; False when the service does not support it."""
    probe = aws.session.client("sqs", config=Config(retries={"mode": "standard", "max_attempts": 2}))
    try:
        earlier = {_task_key(task) for task in _listed_tasks(probe, dlq_arn)}
        handle = probe.start_message_move_task(SourceArn=dlq_arn, DestinationArn=target_arn)["TaskHandle"]
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        message = str(error.response.get("Error", {}).get("Message", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if ACTIVE_TASK_ERROR in message:
            raise CliError(
                f"a message move task is already running on this DLQ; wait until 'aws sqs list-message-move-tasks"
                f" --source-arn {dlq_arn}' shows it ended (or cancel it), then run redrive again"
            ) from None
        if code in UNSUPPORTED_CODES or status >= 500 or "not been implemented" in message.lower():
            print(f"StartMessageMoveTask is not available here ({code or status}); moving by receive/send/delete.")
            return False
        raise
    print(f"Started message move task {handle}; waiting for it to finish...")
    task = _follow_task(aws.client("sqs"), dlq_arn, handle, earlier)
    outcome = str(task.get("Status"))
    moved = task.get("ApproximateNumberOfMessagesMoved", 0)
    if outcome != "COMPLETED":
        raise CliError(
            f"message move task {outcome.lower()} after {moved} message(s):"
            f" {task.get('FailureReason', 'no reason')}; fix that and run redrive again"
        )
    print(f"Moved {moved} message(s) with StartMessageMoveTask.")
    return True


def _listed_tasks(sqs: Any, dlq_arn: str) -> list[dict[str, Any]]:
    """The DLQ's most recent move tasks, newest first."""
    return list(sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=MOVE_TASK_LISTED).get("Results", []))


def _task_key(task: dict[str, Any]) -> tuple[Any, Any]:
    return task.get("StartedTimestamp"), task.get("DestinationArn")


def _follow_task(sqs: Any, dlq_arn: str, handle: str, earlier: set[tuple[Any, Any]]) -> dict[str, Any]:
    """Polls until the task this run started has ended, and returns its final entry.

    ListMessageMoveTasks shows a TaskHandle only while the task is RUNNING: the task is recognised by its
    handle, then by the StartedTimestamp it had then. One that ended before the first look is the oldest
    task not listed before the start (SQS runs one task per queue at a time, so any later one started after
    it ended). Another operator's older or newer task is never taken for this one.
    """
    key: tuple[Any, Any] | None = None
    misses = 0
    while True:
        tasks = _listed_tasks(sqs, dlq_arn)
        task = next((t for t in tasks if t.get("TaskHandle") == handle), None)
        if task is None and key is not None:
            task = next((t for t in tasks if _task_key(t) == key), None)
        if task is None and key is None:
            started_since = [t for t in tasks if _task_key(t) not in earlier]
            task = started_since[-1] if started_since else None
        if task is None:
            misses += 1
            if misses >= MOVE_TASK_LOOKS:
                raise CliError(
                    f"message move task {handle} is no longer listed; check 'aws sqs list-message-move-tasks"
                    f" --source-arn {dlq_arn}' and the DLQ's depth before running redrive again"
                )
        else:
            misses, key = 0, _task_key(task)
            if task.get("Status") not in ACTIVE_TASK_STATUSES:
                return task
        time.sleep(MOVE_TASK_POLL_SECONDS)


class VisibilityKeeper:
    """Keeps the messages in hand hidden while they are copied.

    A send or delete slower than the visibility timeout would let a message reappear in the DLQ, where
    another reader (a second redrive, a console) could take it and move it again. A background thread
    extends every held message back to the full timeout each third of it (ChangeMessageVisibilityBatch).
    """

    def __init__(self, sqs: Any, queue_url: str, seconds: int) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._seconds = seconds
        self._held: dict[str, str] = {}  # receipt handle -> message id
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redrive-visibility", daemon=True)
        self.lapsed: set[str] = set()  # ids of messages whose visibility could not be extended

    def __enter__(self) -> VisibilityKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def hold(self, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            self._held.update({m["ReceiptHandle"]: m["MessageId"] for m in messages})

    def drop(self, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            for message in messages:
                self._held.pop(message["ReceiptHandle"], None)

    def _run(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            with self._lock:
                handles = list(self._held)
            for chunk in _chunks(handles, 10):
                self._extend(chunk)

    def _extend(self, handles: list[str]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": self._seconds} for i, h in enumerate(handles)
        ]
        try:
            failed = {
                int(f["Id"])
                for f in self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries).get(
                    "Failed", []
                )
            }
        except (ClientError, BotoCoreError):
            failed = set(range(len(handles)))
        with self._lock:  # a message deleted meanwhile is no longer held: its failure does not matter
            self.lapsed.update(self._held[handles[i]] for i in failed if handles[i] in self._held)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _move_by_copy(sqs: Any, dlq_url: str, target_url: str, limit: int | None) -> int:
    """Receive, send to the target, and only then delete from the DLQ; what is in hand stays hidden meanwhile."""
    moved = duplicated = 0
    empty_polls = 0
    print(f"Moving to {target_url} (send, then delete)...")
    with VisibilityKeeper(sqs, dlq_url, MOVE_VISIBILITY_SECONDS) as keeper:
        try:
            while (limit is None or moved < limit) and empty_polls < 2:
                want = 10 if limit is None else min(10, limit - moved)
                answer = sqs.receive_message(
                    QueueUrl=dlq_url,
                    MaxNumberOfMessages=want,
                    VisibilityTimeout=MOVE_VISIBILITY_SECONDS,
                    WaitTimeSeconds=0 if empty_polls == 0 else 1,
                    MessageAttributeNames=["All"],
                )
                messages = answer.get("Messages", [])
                if not messages:
                    empty_polls += 1
                    continue
                empty_polls = 0
                sent = _send(sqs, dlq_url, target_url, messages, keeper)
                moved += len(sent)
                duplicated += len(sent)  # in both queues until the delete below succeeds
                deleted = _delete(sqs, dlq_url, sent, keeper)
                duplicated -= deleted
                if len(sent) < len(messages):
                    raise CliError(f"{len(messages) - len(sent)} message(s) could not be sent to the source queue")
                if deleted < len(sent):
                    raise CliError(f"{len(sent) - deleted} sent message(s) could not be deleted from the DLQ")
        except (CliError, ClientError, BotoCoreError) as error:
            reason = error if isinstance(error, CliError) else _one_line(error)
            print(
                f"Moved {moved} message(s) before stopping; {duplicated} are now in both queues (harmless duplicates)."
            )
            raise CliError(
                f"redrive stopped: {reason}; unmoved messages are still in the DLQ (some hidden for up to"
                f" {MOVE_VISIBILITY_SECONDS} s): run redrive again"
            ) from None
    if keeper.lapsed:
        print(
            f"note: the visibility of {len(keeper.lapsed)} message(s) could not be extended while copying; another"
            " reader of the DLQ may have seen them meanwhile (at worst a harmless duplicate)"
        )
    print(f"Moved {moved} message(s) by receive/send/delete; 0 lost, {duplicated} duplicated.")
    return EXIT_OK


def _send(
    sqs: Any, dlq_url: str, target_url: str, messages: list[dict[str, Any]], keeper: VisibilityKeeper
) -> list[dict[str, Any]]:
    """Sends the batch to the target; the messages that were not sent are visible in the DLQ again at once."""
    keeper.hold(messages)
    entries = []
    for message in messages:
        entry: dict[str, Any] = {"Id": message["MessageId"][:80], "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            entry["MessageAttributes"] = message["MessageAttributes"]
        entries.append(entry)
    try:
        answer = sqs.send_message_batch(QueueUrl=target_url, Entries=entries)
    except (ClientError, BotoCoreError):
        keeper.drop(messages)
        _release(sqs, dlq_url, [m["ReceiptHandle"] for m in messages])
        raise
    ok = {entry["Id"] for entry in answer.get("Successful", [])}
    unsent = [m for m in messages if m["MessageId"][:80] not in ok]
    keeper.drop(unsent)  # before releasing, so the keeper does not hide them again
    _release(sqs, dlq_url, [m["ReceiptHandle"] for m in unsent])
    return [m for m in messages if m["MessageId"][:80] in ok]


def _delete(sqs: Any, dlq_url: str, messages: list[dict[str, Any]], keeper: VisibilityKeeper) -> int:
    """Deletes sent messages from the DLQ; one that could not be deleted reappears there after the timeout."""
    if not messages:
        return 0
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
    try:
        answer = sqs.delete_message_batch(QueueUrl=dlq_url, Entries=entries)
    finally:
        keeper.drop(messages)
    return len(answer.get("Successful", []))


def _one_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
