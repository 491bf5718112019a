"""An EventBridge rule with a schedule expression whose target is a Lambda function, on the sandbox clock.

moto stores rules but never fires them, so this module plays EventBridge's part for one rule and one
Lambda target::

    with Schedule("every-five", "rate(5 minutes)", function, sandbox.clock) as schedule:
        ...                                   # the function is invoked every 5 sandbox minutes
        summary = schedule.fire_now().wait(60).response   # one more, now, and what it returned

Semantics honoured (Amazon EventBridge User Guide, "Schedule expressions for rules"; AWS Lambda Developer
Guide, "Invoking a Lambda function asynchronously"):

* ``rate(value unit)``: a positive whole value, unit ``minute``/``hour``/``day`` for 1 and ``minutes``/
  ``hours``/``days`` otherwise. The period runs on the sandbox clock (a fast clock fires more often per real
  second); the first event comes one period after ``start()``. A firing that falls behind is not made up
  for: the next one is one period later. ``cron(...)`` expressions are not emulated (ValueError).
* Each firing sends AWS's scheduled event (``"source": "aws.events"``, ``"detail-type": "Scheduled Event"``,
  the rule's ARN in ``resources``, ``"detail": {}``, ``time``: the scheduled moment on the sandbox clock,
  whole seconds).
* The function is invoked asynchronously: firings do not wait for each other (they may overlap), each waits
  for a free slot of the function's concurrency (shared with its other triggers), and a function error
  (exception, timeout, init error, unserialisable result) is retried ``maximum_retry_attempts`` times
  (0..2, default 2), one sandbox minute after the first attempt and two after the second.

Every firing is kept as a :class:`ScheduledInvocation`: its event, its attempts (each a
:class:`sandbox.invocation.FunctionResult`) and, once settled, the function's response.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox.invocation import FunctionResult

if TYPE_CHECKING:
    from sandbox.clock import SandboxClock
    from sandbox.lambda_function import LambdaFunction

_RATE = re.compile(r"rate\((\d+) (minutes?|hours?|days?)\)")
_RULE_NAME = re.compile(r"[.\-_A-Za-z0-9]{1,64}")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
RETRY_DELAYS = (60.0, 120.0)  # sandbox seconds before the second and the third attempt
_POLL = 0.02  # real seconds between looks at the clock


def rate_seconds(expression: str) -> float:
    """The period of a ``rate(...)`` schedule expression, in seconds; ValueError as PutRule refuses it."""
    if expression.strip().startswith("cron("):
        raise ValueError(f"ScheduleExpression {expression!r}: cron expressions are not emulated; use rate(...)")
    match = _RATE.fullmatch(expression.strip())
    if match is None:
        raise ValueError(f"ScheduleExpression {expression!r} is not valid; e.g. rate(5 minutes)")
    value, unit = int(match.group(1)), match.group(2)
    if value < 1 or (value == 1) != (not unit.endswith("s")):
        raise ValueError(
            f"ScheduleExpression {expression!r} is not valid: a value of 1 takes a singular unit, others a plural"
        )
    return float(value * _UNIT_SECONDS[unit.rstrip("s")])


@dataclass
class ScheduledInvocation:
    """One firing of the rule: the event sent and every attempt to invoke the function with it."""

    event: dict[str, Any]
    scheduled_at: float  # sandbox epoch seconds: the moment the schedule meant (the event's time)
    fired_at: float  # when the sandbox fired it (a busy machine may be a little late)
    attempts: list[FunctionResult] = field(default_factory=list)
    settled: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def succeeded(self) -> bool:
        return bool(self.attempts) and not self.attempts[-1].failed

    @property
    def response(self) -> Any:
        """What the function returned (None until it succeeded)."""
        return self.attempts[-1].response if self.succeeded else None

    def wait(self, timeout: float) -> ScheduledInvocation:
        """Returns itself once it succeeded or ran out of retries; TimeoutError after ``timeout`` real seconds."""
        if not self.settled.wait(timeout):
            raise TimeoutError(f"scheduled invocation fired at {self.fired_at} not settled within {timeout} s")
        return self


class Schedule:
    """One EventBridge rule (``name``, a ``rate(...)`` expression) targeting ``function``."""

    def __init__(
        self,
        name: str,
        expression: str,
        function: LambdaFunction,
        clock: SandboxClock,
        *,
        maximum_retry_attempts: int = 2,
    ) -> None:
        if not _RULE_NAME.fullmatch(name):
            raise ValueError(f"Name: 1..64 letters, digits, '.', '-' or '_', got {name!r}")
        if not 0 <= maximum_retry_attempts <= len(RETRY_DELAYS):
            raise ValueError(f"MaximumRetryAttempts must be between 0 and 2, got {maximum_retry_attempts}")
        self.name = name
        self.expression = expression
        self.period = rate_seconds(expression)
        self.function = function
        self.clock = clock
        self.maximum_retry_attempts = maximum_retry_attempts
        self.arn = f"arn:aws:events:{function.region}:{function.account_id}:rule/{name}"
        self._lock = threading.Lock()
        self._invocations: list[ScheduledInvocation] = []
        self._threads: set[threading.Thread] = set()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    # ------------------------------------------------------------------ running
    def start(self) -> Schedule:
        if self._timer is not None and self._timer.is_alive():
            raise RuntimeError("schedule already started")
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._run, args=(self._stop,), name=f"schedule-{self.name}", daemon=True)
        self._timer.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """No more firings or retries; waits for invocations in flight (default: the function timeout + 5 s)."""
        self._stop.set()
        deadline = time.monotonic() + (self.function.settings.timeout + 5 if timeout is None else timeout)
        if self._timer is not None:
            self._timer.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Schedule:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._timer is not None and self._timer.is_alive() and not self._stop.is_set()

    def fire_now(self) -> ScheduledInvocation:
        """One firing now, besides the schedule's own (works whether the schedule runs or not)."""
        return self._fire(self.clock.now())

    def invocations(self) -> list[ScheduledInvocation]:
        """Every firing so far, oldest first."""
        with self._lock:
            return list(self._invocations)

    # ------------------------------------------------------------------ internals
    def _run(self, stop: threading.Event) -> None:
        next_at = self.clock.now() + self.period
        while not stop.is_set():
            now = self.clock.now()
            if now >= next_at:
                self._fire(next_at)
                next_at += self.period * max(1, int((now - next_at) // self.period) + 1)
                continue
            stop.wait(min(_POLL, self.clock.real_seconds(next_at - now)))

    def _fire(self, scheduled_at: float) -> ScheduledInvocation:
        invocation = ScheduledInvocation(self._event(scheduled_at), scheduled_at, self.clock.now())
        thread = threading.Thread(
            target=self._deliver, args=(invocation,), name=f"schedule-{self.name}-invoke", daemon=True
        )
        with self._lock:
            self._invocations.append(invocation)
            self._threads.add(thread)
        thread.start()
        return invocation

    def _deliver(self, invocation: ScheduledInvocation) -> None:
        """The asynchronous invocation: waits for concurrency, retries function errors after their delays."""
        try:
            for attempt in range(self.maximum_retry_attempts + 1):
                if attempt and not self._sleep(RETRY_DELAYS[attempt - 1]):
                    return
                while not self.function.reserve(timeout=0.1):
                    if self._stop.is_set():
                        return
                try:
                    result = self.function.run(invocation.event)
                finally:
                    self.function.release()
                invocation.attempts.append(result)
                if not result.failed:
                    return
        finally:
            invocation.settled.set()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _sleep(self, sandbox_seconds: float) -> bool:
        """Waits that long on the sandbox clock; False when the schedule stops meanwhile."""
        until = self.clock.now() + sandbox_seconds
        while (left := until - self.clock.now()) > 0:
            if self._stop.wait(min(_POLL, self.clock.real_seconds(left))):
                return False
        return True

    def _event(self, scheduled_at: float) -> dict[str, Any]:
        """AWS's scheduled event, as EventBridge passes it to the function."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.function.account_id,
            "time": datetime.fromtimestamp(scheduled_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.function.region,
            "resources": [self.arn],
            "detail": {},
        }

    def __repr__(self) -> str:
        return f"Schedule({self.name!r}, {self.expression!r}, function={self.function.settings.name!r})"
