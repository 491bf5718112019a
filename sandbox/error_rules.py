"""Scheduled errors: which calls fail, how often, and with the error each AWS service really answers.

:class:`ErrorRule` is what a test asks for (``FaultControls.inject_error``); :class:`RuleState` counts
what a rule has seen and injected. :class:`sandbox.faults.FaultControls` decides which rule fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sandbox.api_call import ApiCall, Rejection
from sandbox.throttling import AUTOSCALING_THROTTLED, EC2_THROTTLED


class ErrorKind(StrEnum):
    HTTP500 = "http500"  # EC2 InternalError / others InternalFailure, HTTP 500
    HTTP503 = "http503"  # EC2 Unavailable / others ServiceUnavailable, HTTP 503
    REQUEST_LIMIT_EXCEEDED = "RequestLimitExceeded"  # EC2 throttling, HTTP 503
    THROTTLING = "Throttling"  # Auto Scaling throttling, HTTP 400 "Rate exceeded"
    CONNECTION_RESET = "connection_reset"  # TCP reset, no HTTP answer at all
    CUSTOM = "custom"  # the rule's own status / code / message


@dataclass(frozen=True)
class ErrorRule:
    """Fail matching calls: the next ``count`` ones, or each with ``probability`` (both: at most
    ``count`` failures drawn with ``probability``; neither: every one), after letting ``after``
    matching calls through. ``service``/``action``/``region`` "*" (or None for region) match all."""

    service: str
    action: str = "*"
    kind: ErrorKind = ErrorKind.HTTP500
    count: int | None = None
    probability: float | None = None
    after: int = 0
    region: str | None = None
    status: int | None = None
    code: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ErrorKind(self.kind))
        if self.count is not None and self.count < 0:
            raise ValueError("count must be >= 0")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if self.after < 0:
            raise ValueError("after must be >= 0")
        if self.kind is ErrorKind.CUSTOM and (self.status is None or not self.code):
            raise ValueError("a custom error rule needs status and code")

    def matches(self, call: ApiCall) -> bool:
        return (
            self.service in ("*", call.service)
            and self.action in ("*", call.action)
            and self.region in (None, "*", call.region)
        )

    def rejection(self, service: str) -> Rejection:
        kind = self.kind
        if kind is ErrorKind.CUSTOM:
            assert self.status is not None and self.code is not None  # checked in __post_init__
            return Rejection(self.status, self.code, self.message or self.code)
        if kind is ErrorKind.CONNECTION_RESET:
            return Rejection(0, "ConnectionReset", "connection reset by the sandbox", reset_connection=True)
        default = _default_rejection(kind, service)
        return Rejection(self.status or default.status, self.code or default.code, self.message or default.message)


def _default_rejection(kind: ErrorKind, service: str) -> Rejection:
    ec2 = service == "ec2"
    if kind is ErrorKind.HTTP500:
        if ec2:
            return Rejection(500, "InternalError", "An internal error has occurred.")
        return Rejection(
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    if kind is ErrorKind.HTTP503:
        if ec2:
            return Rejection(503, "Unavailable", "The server is overloaded and can't handle the request.")
        return Rejection(503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")
    if kind is ErrorKind.REQUEST_LIMIT_EXCEEDED:
        return EC2_THROTTLED
    return AUTOSCALING_THROTTLED


@dataclass
class RuleState:
    """A rule as the controls hold it: its id and what it has seen and injected so far."""

    rule_id: str
    rule: ErrorRule
    seen: int = 0
    injected: int = 0

    def exhausted(self) -> bool:
        return self.rule.count is not None and self.injected >= self.rule.count
