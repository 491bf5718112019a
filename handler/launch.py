"""One SQS record, one launch: name the instance, then release it; what to retry, what to skip, what to give up on."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import EphemeralMetrics
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from tenacity import Retrying, retry_if_exception_type, stop_before_delay, wait_random_exponential

from handler.config import Settings
from handler.fleet import ActionNotActive, Fleet, InstanceNotVisible, InstanceRecord, TransientAwsError
from handler.instance_cache import InstanceCache
from handler.messages import LifecycleMessage, MalformedMessage, MessageKind, parse_message
from handler.naming import InvalidName, MissingIp, MissingTag, TemplateError, resolve_template
from handler.observability import Metric, count, logger

_T = TypeVar("_T")


class RecordOutcome(StrEnum):
    """How a record ended when it did not fail; every outcome is acknowledged (deleted from the queue)."""

    NAMED = "named"
    ALREADY_NAMED = "already-named"
    NAMING_FAILED = "naming-failed"
    ACTION_ALREADY_COMPLETED = "action-already-completed"
    INSTANCE_GONE = "instance-gone"
    TEST_NOTIFICATION = "test-notification"
    NOT_A_LAUNCH = "not-a-launch"


class RetryLater(Exception):
    """The record fails on purpose so SQS delivers it again after the visibility timeout."""


class _NotReady(Exception):
    """A condition that time may fix: no private IP yet, or EC2 does not see the instance yet."""


class _InstanceGone(Exception):
    """Terminated, or unknown to EC2 long after launch: nothing will ever be named."""


class _PermanentNamingFailure(Exception):
    """The template cannot produce a valid name for this instance (a missing tag, an invalid name)."""


@dataclass
class BatchState:
    """What one invocation shares between its records: parsed bodies, instances, the deadline."""

    instances: InstanceCache
    deadline: float
    messages: dict[str, LifecycleMessage | MalformedMessage] = field(default_factory=dict)


class LaunchHandler:
    """Names and releases the instances of a batch. One per execution environment."""

    def __init__(self, settings: Settings, fleet: Fleet, metrics: EphemeralMetrics) -> None:
        self.settings = settings
        self.fleet = fleet
        self.metrics = metrics
        self._batch: BatchState | None = None

    def start_batch(self, records: list[dict[str, Any]], lambda_context: Any) -> None:
        """Parses every body once and fetches every instance of the batch with one DescribeInstances."""
        remaining = lambda_context.get_remaining_time_in_millis() / 1000 if lambda_context else 60.0
        batch = BatchState(InstanceCache(self.fleet), time.monotonic() + remaining - self.settings.time_margin_seconds)
        for raw in records:
            try:
                batch.messages[raw["messageId"]] = parse_message(raw["body"])
            except MalformedMessage as error:
                batch.messages[raw["messageId"]] = error
        wanted = {
            message.instance_id
            for message in batch.messages.values()
            if isinstance(message, LifecycleMessage) and message.instance_id and _needs_naming(message)
        }
        if wanted:
            try:
                batch.instances.prefetch(wanted)
            except Exception as error:  # noqa: BLE001 - each record looks up for itself and fails on its own
                logger.warning(
                    "prefetch of the batch's instances failed; records will look up", extra={"error": str(error)}
                )
        self._batch = batch

    def handle_record(self, record: SQSRecord) -> RecordOutcome:
        """Works one record; raising fails only this record (partial batch response)."""
        batch = self._batch
        if batch is None:
            raise RuntimeError("handle_record called outside a batch")
        parsed = batch.messages.get(record.message_id)
        if parsed is None:
            parsed = _parse(record.body)
        if isinstance(parsed, MalformedMessage):
            count(self.metrics, Metric.MALFORMED_MESSAGES)
            logger.error(
                "malformed message; it fails and will reach the DLQ",
                extra={"message_id": record.message_id, "reason": str(parsed)},
            )
            raise parsed
        with _log_context(parsed, record.message_id):
            try:
                return self._handle(parsed, record, batch)
            except RetryLater:
                raise
            except Exception:
                # Unknown errors (AccessDenied, a bug) are retried through SQS and end in the DLQ, never dropped.
                count(self.metrics, Metric.RECORDS_RETRIED)
                logger.exception("unexpected error; the record fails and will be retried")
                raise

    def _handle(self, message: LifecycleMessage, record: SQSRecord, batch: BatchState) -> RecordOutcome:
        if message.kind is MessageKind.TEST_NOTIFICATION:
            count(self.metrics, Metric.TEST_NOTIFICATIONS)
            logger.info("test notification acknowledged")
            return RecordOutcome.TEST_NOTIFICATION
        if message.kind is MessageKind.OTHER_TRANSITION:
            count(self.metrics, Metric.NON_LAUNCH_TRANSITIONS)
            logger.warning(
                "not a launch transition; acknowledged and left to its owner", extra={"transition": message.transition}
            )
            return RecordOutcome.NOT_A_LAUNCH
        started = time.monotonic()
        try:
            outcome = self._retrying(
                batch, lambda n: self._name(message, batch, record, n), cap=self.settings.ip_wait_max_seconds
            )
        except _InstanceGone as gone:
            count(self.metrics, Metric.INSTANCES_GONE)
            logger.info("instance is gone; acknowledged", extra={"reason": str(gone)})
            return RecordOutcome.INSTANCE_GONE
        except _PermanentNamingFailure as failure:
            return self._give_up(message, batch, str(failure))
        except (_NotReady, TransientAwsError) as error:
            return self._retry_later(message, batch, str(error))
        count(self.metrics, Metric.NAMING_SECONDS, time.monotonic() - started)
        if not message.has_lifecycle_action:
            return outcome
        return self._release(message, batch, "CONTINUE", outcome)

    def _name(self, message: LifecycleMessage, batch: BatchState, record: SQSRecord, attempt: int) -> RecordOutcome:
        """One attempt: current facts, the name, and CreateTags when the name differs."""
        instance_id = message.instance_id or ""
        instance = batch.instances.get(instance_id) if attempt == 1 else None
        if instance is None:
            instance = batch.instances.refresh(instance_id)
        if instance is None:
            age = _age_seconds(message, record)
            if age is not None and age > self.settings.gone_after_seconds:
                raise _InstanceGone(f"EC2 does not know {instance_id} and the message is {age:.0f} s old")
            raise _NotReady(f"EC2 does not see {instance_id} yet")
        if instance.is_gone:
            raise _InstanceGone(f"instance is {instance.state}")
        name = self._render(message, instance)
        if instance.tags.get(self.settings.name_tag_key) == name:
            count(self.metrics, Metric.INSTANCES_ALREADY_NAMED)
            logger.info("instance already has its name", extra={"instance_name": name})
            return RecordOutcome.ALREADY_NAMED
        resources = [instance.instance_id]
        if self.settings.tag_attached:
            resources += [*instance.volume_ids, *instance.network_interface_ids]
        try:
            self.fleet.create_tags(resources, self.settings.name_tag_key, name)
        except InstanceNotVisible as error:
            raise _NotReady(str(error)) from error
        count(self.metrics, Metric.INSTANCES_NAMED)
        logger.info("instance named", extra={"instance_name": name, "resources": len(resources)})
        return RecordOutcome.NAMED

    def _render(self, message: LifecycleMessage, instance: InstanceRecord) -> str:
        try:
            template = resolve_template(message.notification_metadata, self.settings.name_template).template
        except TemplateError as error:
            raise _PermanentNamingFailure(f"the hook's NotificationMetadata template is invalid: {error}") from error
        result = template.render(instance.facts(message.asg_name, message.region or self.settings.region))
        if isinstance(result, MissingIp):
            raise _NotReady("no private IP yet")
        if isinstance(result, MissingTag | InvalidName):
            raise _PermanentNamingFailure(result.reason)
        return result

    def _complete(self, message: LifecycleMessage, result: str) -> None:
        action = message.action
        if action is not None:
            self.fleet.complete(action.asg_name, action.hook_name, action.token, result)

    def _count_completion(self, message: LifecycleMessage) -> None:
        count(self.metrics, Metric.LIFECYCLE_ACTIONS_COMPLETED)
        if message.sent_at is not None:
            count(
                self.metrics,
                Metric.HOOK_TO_COMPLETE_SECONDS,
                max(0.0, (datetime.now(UTC) - message.sent_at).total_seconds()),
            )

    def _give_up(self, message: LifecycleMessage, batch: BatchState, reason: str) -> RecordOutcome:
        """Permanent failure: the policy's FAILURE_RESULT, so an unnamed instance never serves by accident."""
        count(self.metrics, Metric.NAMING_FAILED)
        result = self.settings.failure_result
        if not message.has_lifecycle_action:
            logger.error("cannot name instance; nothing to complete", extra={"reason": reason})
            return RecordOutcome.NAMING_FAILED
        logger.error(
            "cannot name instance; completing with the failure result", extra={"reason": reason, "result": result}
        )
        return self._release(message, batch, result, RecordOutcome.NAMING_FAILED)

    def _release(
        self, message: LifecycleMessage, batch: BatchState, result: str, outcome: RecordOutcome
    ) -> RecordOutcome:
        """CompleteLifecycleAction; an action that is no longer active means someone finished it: acknowledge."""
        try:
            self._retrying(batch, lambda _: self._complete(message, result), cap=None)
        except ActionNotActive as done:
            count(self.metrics, Metric.ACTION_ALREADY_COMPLETED)
            logger.info("lifecycle action already completed or expired; acknowledged", extra={"reason": str(done)})
            return RecordOutcome.ACTION_ALREADY_COMPLETED
        except TransientAwsError as error:
            return self._retry_later(message, batch, str(error))
        self._count_completion(message)
        logger.info("lifecycle action completed", extra={"outcome": outcome.value, "result": result})
        return outcome

    def _retry_later(self, message: LifecycleMessage, batch: BatchState, reason: str) -> RecordOutcome:
        """Out of time in this invocation: keep the action alive with a heartbeat, then fail the record."""
        action = message.action
        if action is not None:
            try:
                self.fleet.heartbeat(action.asg_name, action.hook_name, action.token)
            except ActionNotActive:
                count(self.metrics, Metric.ACTION_ALREADY_COMPLETED)
                logger.info("lifecycle action no longer active while waiting; acknowledged", extra={"reason": reason})
                return RecordOutcome.ACTION_ALREADY_COMPLETED
            except TransientAwsError as error:
                logger.warning("heartbeat failed", extra={"error": str(error)})
        count(self.metrics, Metric.RECORDS_RETRIED)
        logger.warning("record will be retried through SQS", extra={"reason": reason})
        raise RetryLater(reason)

    def _retrying(self, batch: BatchState, attempt: Callable[[int], _T], cap: float | None) -> _T:
        """Exponential backoff with jitter on what time may fix, never past the invocation's deadline.

        ``attempt`` receives the attempt number, so the first one can use what the batch already knows;
        ``cap`` bounds the waiting further (IP_WAIT_MAX_SECONDS for naming; completions only the deadline).
        """
        budget = max(0.0, batch.deadline - time.monotonic())
        if cap is not None:
            budget = min(budget, cap)
        retrying = Retrying(
            retry=retry_if_exception_type((_NotReady, TransientAwsError)),
            wait=wait_random_exponential(multiplier=0.2, max=5),
            stop=stop_before_delay(budget),
            reraise=True,
        )
        for try_ in retrying:
            with try_:
                result = attempt(try_.retry_state.attempt_number)
            if not try_.retry_state.outcome or not try_.retry_state.outcome.failed:
                return result
        raise AssertionError("tenacity stops by raising")  # pragma: no cover


def _needs_naming(message: LifecycleMessage) -> bool:
    return message.kind in (MessageKind.LAUNCHING, MessageKind.LAUNCH_SUCCESSFUL)


def _parse(body: str) -> LifecycleMessage | MalformedMessage:
    try:
        return parse_message(body)
    except MalformedMessage as error:
        return error


def _age_seconds(message: LifecycleMessage, record: SQSRecord) -> float | None:
    """The message's own age; when it carries no time, how long ago SQS received it."""
    now = datetime.now(UTC)
    age = message.age_seconds(now)
    if age is None and record.attributes.sent_timestamp:
        age = (now - datetime.fromtimestamp(int(record.attributes.sent_timestamp) / 1000, UTC)).total_seconds()
    return age


@contextmanager
def _log_context(message: LifecycleMessage, message_id: str) -> Iterator[None]:
    """Every log line of a record carries its lifecycle identifiers (thread-local keys)."""
    logger.thread_safe_append_keys(
        message_id=message_id,
        instance_id=message.instance_id,
        asg=message.asg_name,
        hook=message.hook_name,
        token=message.token,
    )
    try:
        yield
    finally:
        logger.thread_safe_clear_keys()
