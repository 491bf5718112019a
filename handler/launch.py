"""One SQS record, one launch: name the instance, then release it; what to retry, what to skip, what to give up on."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import EphemeralMetrics
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from tenacity import Retrying, retry_if_exception_type, stop_before_delay, wait_random_exponential

from handler.config import Settings
from handler.errors import InstanceGone, NotReady, PermanentNamingFailure, Rejected
from handler.failure_policy import FailurePolicy
from handler.fleet import ActionNotActive, Fleet, HookRecord, InstanceRecord, TransientAwsError
from handler.hooks import HookDirectory
from handler.instance_cache import InstanceCache
from handler.messages import LifecycleMessage, MalformedMessage, MessageKind, parse_message
from handler.name_writer import NameWriter
from handler.naming import (
    InvalidName,
    MissingIp,
    MissingTag,
    NeedsSlot,
    TemplateError,
    resolve_template,
    template_from_metadata,
)
from handler.observability import Metric, count, logger

_T = TypeVar("_T")


class RecordOutcome(StrEnum):
    """How a record ended when it did not fail; every outcome is acknowledged (deleted from the queue)."""

    NAMED = "named"
    ALREADY_NAMED = "already-named"
    NAMING_FAILED = "naming-failed"
    ACTION_ALREADY_COMPLETED = "action-already-completed"
    INSTANCE_GONE = "instance-gone"
    REJECTED = "rejected"
    TEST_NOTIFICATION = "test-notification"
    SNS_SUBSCRIPTION = "sns-subscription"
    NOT_A_LAUNCH = "not-a-launch"


class RetryLater(Exception):
    """The record fails on purpose so SQS delivers it again after the visibility timeout."""


@dataclass
class BatchState:
    """What one invocation shares between its records: parsed bodies, instances, names, the deadline."""

    instances: InstanceCache
    names: NameWriter
    deadline: float
    messages: dict[str, LifecycleMessage | MalformedMessage] = field(default_factory=dict)


class LaunchHandler:
    """Names and releases the instances of a batch. One per execution environment."""

    def __init__(self, settings: Settings, fleet: Fleet, metrics: EphemeralMetrics, hooks: HookDirectory) -> None:
        self.settings = settings
        self.fleet = fleet
        self.metrics = metrics
        self.hooks = hooks
        self.failure_policy = FailurePolicy(settings, fleet, metrics)
        self._batch: BatchState | None = None
        # Reads a batch needs that do not depend on each other overlap instead of queuing one after the other.
        self._overlap = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hooks")

    def start_batch(self, records: list[dict[str, Any]], lambda_context: Any) -> None:
        """Parses every body once, fetches every instance of the batch with one DescribeInstances, and asks
        once who already carries the names the batch is about to write."""
        remaining = lambda_context.get_remaining_time_in_millis() / 1000 if lambda_context else 60.0
        messages: dict[str, LifecycleMessage | MalformedMessage] = {}
        for raw in records:
            try:
                messages[raw["messageId"]] = parse_message(raw["body"])
            except MalformedMessage as error:
                messages[raw["messageId"]] = error
        batch = BatchState(
            InstanceCache(self.fleet),
            NameWriter(self.settings, self.fleet, self.metrics),
            time.monotonic() + remaining - self.settings.time_margin_seconds,
            messages,
        )
        launches = {
            raw["messageId"]: message
            for raw in records
            if isinstance(message := batch.messages[raw["messageId"]], LifecycleMessage) and _needs_naming(message)
        }
        hooks_read = self._overlap.submit(self._read_hooks, {m.asg_name for m in launches.values() if m.asg_name})
        try:
            batch.instances.prefetch(message.instance_id for message in launches.values() if message.instance_id)
            hooks_read.result()
            batch.names.known_alive(batch.instances.live_ids())
            queue_arns = {raw["messageId"]: raw.get("eventSourceARN") for raw in records}
            batch.names.prefetch(self._ready_names(launches, queue_arns, batch))
        except Exception as error:  # noqa: BLE001 - each record looks up for itself and fails on its own
            logger.warning("prefetch for the batch failed; records will look up", extra={"error": str(error)})
        self._batch = batch

    def _read_hooks(self, groups: set[str]) -> None:
        """The batch's groups' hooks, read while its instances are described (a cold cache costs no extra
        round trip before the names); a group that cannot be read now is read again by its records."""
        for group in sorted(groups):
            try:
                self.hooks.hooks(group)
            except Exception as error:  # noqa: BLE001 - its records read it again and fail on their own
                logger.warning("launch hooks not read ahead", extra={"asg": group, "error": str(error)})

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
                extra={"message_id": record.message_id, "reason": str(parsed), "sender_id": _sender(record)},
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
        if not _needs_naming(message):
            return self._acknowledge(message)
        if message.has_lifecycle_action and _receive_count(record) > 1:
            self._heartbeat_first(message)
        started = time.monotonic()
        try:
            outcome = self._retrying(
                batch, lambda n: self._name(message, batch, record, n), cap=self.settings.ip_wait_max_seconds
            )
        except Rejected as rejected:
            count(self.metrics, Metric.REJECTED_MESSAGES)
            logger.error(
                "rejected message: it claims what AWS contradicts; acknowledged, nothing done",
                extra={"reason": str(rejected), "sender_id": _sender(record), "body": record.body[:1000]},
            )
            return RecordOutcome.REJECTED
        except InstanceGone as gone:
            count(self.metrics, Metric.INSTANCES_GONE)
            logger.info("instance is gone; acknowledged", extra={"reason": str(gone)})
            return RecordOutcome.INSTANCE_GONE
        except PermanentNamingFailure as failure:
            return self._give_up(message, batch, str(failure))
        except (NotReady, TransientAwsError) as error:
            return self._retry_later(message, batch, str(error))
        count(self.metrics, Metric.NAMING_SECONDS, time.monotonic() - started)
        if not message.has_lifecycle_action:
            return outcome
        return self._release(message, batch, "CONTINUE", outcome)

    def _acknowledge(self, message: LifecycleMessage) -> RecordOutcome:
        """Messages with nothing to name: the hook's test notification, SNS control messages, other events."""
        if message.kind is MessageKind.TEST_NOTIFICATION:
            count(self.metrics, Metric.TEST_NOTIFICATIONS)
            logger.info("test notification acknowledged")
            return RecordOutcome.TEST_NOTIFICATION
        if message.kind is MessageKind.SNS_SUBSCRIPTION:
            count(self.metrics, Metric.SUBSCRIPTION_CONFIRMATIONS)
            logger.warning(
                f"SNS {message.sns_type} from topic {message.topic_arn}: acknowledged. If that topic should"
                " deliver lifecycle notifications here, confirm it (open the SubscribeURL, or"
                " 'aws sns confirm-subscription --topic-arn ARN --token TOKEN' with the token from the URL);"
                " otherwise find out who subscribed it",
                extra={"topic_arn": message.topic_arn, "subscribe_url": message.subscribe_url},
            )
            return RecordOutcome.SNS_SUBSCRIPTION
        count(self.metrics, Metric.NON_LAUNCH_TRANSITIONS)
        logger.warning(
            "not a launch transition; acknowledged and left to its owner",
            extra={"transition": message.transition, "detail_type": message.detail_type},
        )
        return RecordOutcome.NOT_A_LAUNCH

    def _name(self, message: LifecycleMessage, batch: BatchState, record: SQSRecord, attempt: int) -> RecordOutcome:
        """One attempt: current facts, checked against the message, the name, and CreateTags when it differs."""
        instance = self._current(message, batch, record, attempt)
        name = self._final_name(message, instance, record.event_source_arn, batch)
        if not batch.names.write(instance, name):
            count(self.metrics, Metric.INSTANCES_ALREADY_NAMED)
            logger.info("instance already has its name", extra={"instance_name": name})
            return RecordOutcome.ALREADY_NAMED
        count(self.metrics, Metric.INSTANCES_NAMED)
        logger.info("instance named", extra={"instance_name": name})
        return RecordOutcome.NAMED

    def _current(self, message: LifecycleMessage, batch: BatchState, record: SQSRecord, attempt: int) -> InstanceRecord:
        """The instance as EC2 sees it now (the batch's facts on the first attempt)."""
        instance_id = message.instance_id or ""
        instance = batch.instances.get(instance_id) if attempt == 1 else None
        if instance is None:
            instance = batch.instances.refresh(instance_id)
        if instance is None:
            age = _age_seconds(message, record)
            if age is not None and age > self.settings.gone_after_seconds:
                raise InstanceGone(f"EC2 does not know {instance_id} and the message is {age:.0f} s old")
            raise NotReady(f"EC2 does not see {instance_id} yet")
        if instance.is_gone:
            raise InstanceGone(f"instance is {instance.state}")
        return instance

    def _final_name(
        self, message: LifecycleMessage, instance: InstanceRecord, queue_arn: str | None, batch: BatchState
    ) -> str:
        """The name to write: the verified hook's template rendered, then made unique among live instances."""
        rendered = self._render(message, instance, queue_arn)
        if isinstance(rendered, MissingIp):
            raise NotReady("no private IP yet")
        if isinstance(rendered, MissingTag | InvalidName):
            raise PermanentNamingFailure(rendered.reason)
        return batch.names.final_name(instance, rendered)

    def _render(
        self, message: LifecycleMessage, instance: InstanceRecord, queue_arn: str | None
    ) -> str | NeedsSlot | MissingIp | MissingTag | InvalidName:
        hook = self._verified_hook(message, instance, queue_arn)
        try:
            template = resolve_template(hook.metadata if hook else None, self.settings.name_template).template
        except TemplateError as error:
            raise PermanentNamingFailure(f"the hook's NotificationMetadata template is invalid: {error}") from error
        facts = instance.facts(message.asg_name, message.region or self.settings.region)
        return template.render(facts, self.settings.render_policy)

    def _verified_hook(
        self, message: LifecycleMessage, instance: InstanceRecord, queue_arn: str | None
    ) -> HookRecord | None:
        """What the message claims, checked against AWS; the hook whose metadata holds the group's template.

        The instance must belong to the message's group (AWS tags every instance it launches with its group).
        A lifecycle action must come from a launch hook the group really has, notifying this queue (or no
        target: delivered by an EventBridge rule). Anything else is rejected: a forged message names no
        instance and picks no template.
        """
        group = message.asg_name or ""
        if instance.group != group:
            raise Rejected(f"{instance.instance_id} belongs to group {instance.group!r}, not {group!r}")
        if message.hook_name is None:
            return self.hooks.served_hook(group, queue_arn)
        claimed = _metadata_template(message.notification_metadata)
        hook = self.hooks.hook(group, message.hook_name, stale=lambda h: _metadata_template(h.metadata) != claimed)
        if hook is None:
            raise Rejected(f"group {group!r} has no launch hook named {message.hook_name!r}")
        if hook.target_arn is not None and queue_arn is not None and hook.target_arn != queue_arn:
            raise Rejected(f"hook {hook.name!r} notifies {hook.target_arn}, not this queue ({queue_arn})")
        return hook

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
        """Permanent failure: the reason tag, then the failure policy's result (FAILURE_RESULT, or CONTINUE
        when the breaker is open), so an unnamed instance never serves by accident nor loops."""
        count(self.metrics, Metric.NAMING_FAILED)
        if message.instance_id:
            self.failure_policy.mark(message.instance_id, reason)
        if not message.has_lifecycle_action:
            logger.error("cannot name instance; nothing to complete", extra={"reason": reason})
            return RecordOutcome.NAMING_FAILED
        try:
            result = self.failure_policy.result(message.asg_name or "")
        except TransientAwsError as error:
            return self._retry_later(message, batch, f"{reason}; and the breaker could not be read: {error}")
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

    def _heartbeat_first(self, message: LifecycleMessage) -> None:
        """A redelivered record heartbeats before anything else: if the previous invocation timed out before
        its own heartbeat, this one keeps the action alive, so no two timeouts in a row leave it without one."""
        action = message.action
        if action is None:
            return
        try:
            self.fleet.heartbeat(action.asg_name, action.hook_name, action.token)
        except (ActionNotActive, TransientAwsError) as error:
            logger.info("heartbeat on redelivery not recorded", extra={"reason": str(error)})

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

    def _ready_names(
        self, launches: dict[str, LifecycleMessage], queue_arns: dict[str, str | None], batch: BatchState
    ) -> list[tuple[str, str | NeedsSlot]]:
        """The batch's instances that can be named right away, oldest launch first, with their names (for one
        shared collision check) or slot pools (for one claim per pool)."""
        ready: list[tuple[datetime, str, str | NeedsSlot]] = []
        for message_id, message in launches.items():
            instance = batch.instances.get(message.instance_id or "")
            if instance is None or instance.is_gone:
                continue
            try:
                rendered = self._render(message, instance, queue_arns.get(message_id))
            except (Rejected, PermanentNamingFailure):
                continue
            if isinstance(rendered, str | NeedsSlot):
                ready.append((instance.launch_time or datetime.max.replace(tzinfo=UTC), instance.instance_id, rendered))
        return [(instance_id, rendered) for _, instance_id, rendered in sorted(ready, key=lambda r: (r[0], r[1]))]

    def _retrying(self, batch: BatchState, attempt: Callable[[int], _T], cap: float | None) -> _T:
        """Exponential backoff with jitter on what time may fix, never past the invocation's deadline.

        ``attempt`` receives the attempt number, so the first one can use what the batch already knows;
        ``cap`` bounds the waiting further (IP_WAIT_MAX_SECONDS for naming; completions only the deadline).
        """
        budget = max(0.0, batch.deadline - time.monotonic())
        if cap is not None:
            budget = min(budget, cap)
        retrying = Retrying(
            retry=retry_if_exception_type((NotReady, TransientAwsError)),
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


def _metadata_template(metadata: str | None) -> str | None | TemplateError:
    """What a hook's metadata makes of the template (an error is a value here: it is only compared)."""
    try:
        return template_from_metadata(metadata)
    except TemplateError as error:
        return error


def _parse(body: str) -> LifecycleMessage | MalformedMessage:
    try:
        return parse_message(body)
    except MalformedMessage as error:
        return error


def _receive_count(record: SQSRecord) -> int:
    raw = record.attributes.approximate_receive_count
    return int(raw) if raw and raw.isdigit() else 1


def _sender(record: SQSRecord) -> str | None:
    """Who put the message on the queue (SQS's SenderId): the first thing to know about a bad message."""
    return record.attributes.sender_id


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
