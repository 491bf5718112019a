"""What an SQS event source mapping exchanges with AWS and the function: its settings as
CreateEventSourceMapping takes and validates them, the event records it builds from ReceiveMessage
answers, and the partial batch response (``batchItemFailures``) as Lambda reads it.

The rules are those of the AWS Lambda Developer Guide ("Using Lambda with Amazon SQS") and the
CreateEventSourceMapping API reference; each error names the setting, as AWS's do.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.lambda_context import FunctionSettings

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
MAX_BATCH_SIZE = 10_000
MAX_FIFO_BATCH_SIZE = 10
MAX_BATCHING_WINDOW = 300
MIN_CONCURRENCY, MAX_CONCURRENCY = 2, 1000
SQS_RECEIVE_MAX = 10  # MaxNumberOfMessages of one ReceiveMessage / entries of one *Batch call


@dataclass(frozen=True)
class EventSourceMappingSettings:
    """``BatchSize``, ``MaximumBatchingWindowInSeconds``, ``ScalingConfig.MaximumConcurrency`` and
    ``FunctionResponseTypes``; validated on creation (``ValueError`` naming the setting).

    The window may be fractional (Lambda: whole seconds) to keep tests fast; MaximumConcurrency
    defaults to its minimum, 2.
    """

    batch_size: int = 10
    maximum_batching_window_in_seconds: float = 0
    maximum_concurrency: int = MIN_CONCURRENCY
    function_response_types: Sequence[str] = ()

    def __post_init__(self) -> None:
        if isinstance(self.function_response_types, str):
            raise ValueError("FunctionResponseTypes must be a list, e.g. ['ReportBatchItemFailures']")
        object.__setattr__(self, "function_response_types", tuple(self.function_response_types))
        _validate(self)

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> EventSourceMappingSettings:
        """From CreateEventSourceMapping parameters or CloudFormation ``AWS::Lambda::EventSourceMapping``
        properties (other properties, such as ``FunctionName``, are not the mapping's settings)."""
        scaling = properties.get("ScalingConfig") or {}
        return cls(
            batch_size=int(properties.get("BatchSize", 10)),
            maximum_batching_window_in_seconds=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
            maximum_concurrency=int(scaling.get("MaximumConcurrency", MIN_CONCURRENCY)),
            function_response_types=tuple(properties.get("FunctionResponseTypes", ())),
        )

    @property
    def report_batch_item_failures(self) -> bool:
        return REPORT_BATCH_ITEM_FAILURES in self.function_response_types


def _validate(settings: EventSourceMappingSettings) -> None:
    batch_size, window = settings.batch_size, settings.maximum_batching_window_in_seconds
    concurrency = settings.maximum_concurrency
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
    unknown = [t for t in settings.function_response_types if t != REPORT_BATCH_ITEM_FAILURES]
    if unknown:
        raise ValueError(f"FunctionResponseTypes: only ReportBatchItemFailures is valid, got {unknown!r}")


def check_against_queue(
    settings: EventSourceMappingSettings, function: FunctionSettings, attributes: Mapping[str, str]
) -> None:
    """What CreateEventSourceMapping checks against the queue: the function timeout fits its
    VisibilityTimeout, and a FIFO queue takes batches of at most 10 and no batching window."""
    visibility = int(attributes.get("VisibilityTimeout", "30"))
    if function.timeout > visibility:
        raise ValueError(
            f"Timeout: the function timeout ({function.timeout:g} s) exceeds the queue's VisibilityTimeout "
            f"({visibility} s); messages would reappear while still being processed"
        )
    if attributes.get("FifoQueue", "false").lower() == "true":
        if settings.batch_size > MAX_FIFO_BATCH_SIZE:
            raise ValueError(f"BatchSize: at most 10 for a FIFO queue, got {settings.batch_size}")
        if settings.maximum_batching_window_in_seconds:
            raise ValueError("MaximumBatchingWindowInSeconds: batching window is not supported for FIFO queues")


class InvalidResponse(Exception):
    """The function's answer is not a valid partial batch response: Lambda fails the whole batch."""


def parse_batch_item_failures(response: Any, message_ids: Iterable[str]) -> set[str]:
    """The message IDs a ReportBatchItemFailures response names; raises :class:`InvalidResponse` when
    Lambda would fail the whole batch (not an object, list or entries malformed, empty/null/unknown
    identifier). An empty list, a missing key or ``None`` means every record succeeded."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        raise InvalidResponse(f"response is not a JSON object: {type(response).__name__}")
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise InvalidResponse("batchItemFailures is not a list")
    known = set(message_ids)
    failed: set[str] = set()
    for entry in failures:
        if not isinstance(entry, dict) or "itemIdentifier" not in entry:
            raise InvalidResponse(f"malformed batchItemFailures entry: {entry!r}")
        identifier = entry["itemIdentifier"]
        if not isinstance(identifier, str) or not identifier:
            raise InvalidResponse(f"empty or non-string itemIdentifier: {identifier!r}")
        if identifier not in known:
            raise InvalidResponse(f"itemIdentifier {identifier!r} is not a message of this batch")
        failed.add(identifier)
    return failed


def sqs_event_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
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
    record["eventSourceARN"] = queue_arn
    record["awsRegion"] = queue_arn.split(":")[3]
    return record


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
