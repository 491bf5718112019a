"""Settings from environment variables, read and checked once per execution environment.

A misconfigured function should fail at its first cold start with one message naming every bad
variable, not fail record by record later (and release instances with a default result nobody chose).
An unset or empty variable takes its default. ``VARIABLES`` is the one list of variables: the README's
configuration table is checked against it (tests/unit/test_readme.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from handler.naming import DEFAULT_TEMPLATE, MAX_TAG_KEY_LENGTH, NameTemplate, TemplateError, compile_template
from handler.naming import is_allowed_char as _is_allowed_char

FAILURE_RESULTS = ("ABANDON", "CONTINUE")
RETRY_MODES = ("standard", "adaptive", "legacy")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


class ConfigError(ValueError):
    """One or more environment variables are invalid; the message names each of them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration: " + "; ".join(problems))
        self.problems = tuple(problems)


class Variable(NamedTuple):
    """One documented environment variable (the README's configuration table)."""

    name: str
    default: str
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    Variable("NAME_TEMPLATE", DEFAULT_TEMPLATE, "name template (see handler/naming.py for placeholders)"),
    Variable("NAME_TAG_KEY", "Name", "tag key the name is written to (1..128 characters, not aws:...)"),
    Variable("FAILURE_RESULT", "ABANDON", "lifecycle result when an instance cannot be named: ABANDON or CONTINUE"),
    Variable("TAG_ATTACHED", "false", "also tag attached volumes and network interfaces (true/false/1/0/yes/no)"),
    Variable("MAX_WORKERS", "8", "records worked on concurrently within a batch (1..64)"),
    Variable(
        "TIME_MARGIN_SECONDS",
        "25",
        "stop starting work this long before the invocation's deadline (>= 1); covers one AWS call with its retries",
    ),
    Variable("GONE_AFTER_SECONDS", "300", "InvalidInstanceID.NotFound for an older message means the instance is gone"),
    Variable(
        "IP_WAIT_MAX_SECONDS",
        "60",
        "cap on waiting within one invocation for a private IP or for EC2 to see the instance (>= 0)",
    ),
    Variable(
        "AWS_RETRY_MODE", "adaptive", "botocore retry mode: adaptive (client-side rate limiting), standard or legacy"
    ),
    Variable(
        "AWS_MAX_ATTEMPTS",
        "3",
        "botocore total attempts per call, first one included (1..20); longer retries respect the deadline",
    ),
    Variable("POWERTOOLS_SERVICE_NAME", "asg-namer", "service name in logs and metrics"),
    Variable("POWERTOOLS_METRICS_NAMESPACE", "AsgNamer", "CloudWatch metrics namespace"),
    Variable("AWS_REGION", "", "Region used in names when the message has none (else AWS_DEFAULT_REGION)"),
)
_DEFAULTS = {v.name: v.default for v in VARIABLES}


@dataclass(frozen=True)
class Settings:
    """Everything the handler is configured with; build it with ``load_settings``."""

    name_template: NameTemplate
    name_tag_key: str
    failure_result: str
    tag_attached: bool
    max_workers: int
    time_margin_seconds: float
    gone_after_seconds: float
    ip_wait_max_seconds: float
    retry_mode: str
    max_attempts: int
    service_name: str
    metrics_namespace: str
    region: str | None

    @property
    def retries(self) -> dict[str, Any]:
        """The ``retries`` argument of botocore.config.Config."""
        return {"mode": self.retry_mode, "total_max_attempts": self.max_attempts}


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read every variable; raise one ConfigError listing all bad ones."""
    problems: list[str] = []

    def get(name: str, parse: Callable[[str], Any]) -> Any:
        raw = env.get(name) or _DEFAULTS[name]
        try:
            return parse(raw)
        except ValueError as exc:
            problems.append(f"{name}={_show(raw)} {exc}")
            return None

    settings = {
        "name_template": get("NAME_TEMPLATE", _template),
        "name_tag_key": get("NAME_TAG_KEY", _tag_key),
        "failure_result": get("FAILURE_RESULT", _choice(FAILURE_RESULTS, str.upper)),
        "tag_attached": get("TAG_ATTACHED", _bool),
        "max_workers": get("MAX_WORKERS", _integer(1, 64)),
        "time_margin_seconds": get("TIME_MARGIN_SECONDS", _seconds(minimum=1)),
        "gone_after_seconds": get("GONE_AFTER_SECONDS", _seconds(minimum=1)),
        "ip_wait_max_seconds": get("IP_WAIT_MAX_SECONDS", _seconds(minimum=0)),
        "retry_mode": get("AWS_RETRY_MODE", _choice(RETRY_MODES, str.lower)),
        "max_attempts": get("AWS_MAX_ATTEMPTS", _integer(1, 20)),
        "service_name": get("POWERTOOLS_SERVICE_NAME", str),
        "metrics_namespace": get("POWERTOOLS_METRICS_NAMESPACE", str),
        "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
    }
    if problems:
        raise ConfigError(problems)
    return Settings(**settings)


def _template(raw: str) -> NameTemplate:
    try:
        return compile_template(raw)
    except TemplateError as exc:
        raise ValueError(f"is not a valid name template: {exc}") from None


def _tag_key(raw: str) -> str:
    if len(raw) > MAX_TAG_KEY_LENGTH:
        raise ValueError(f"must be a tag key of 1..{MAX_TAG_KEY_LENGTH} characters, not {len(raw)}")
    if raw.lower().startswith("aws:"):
        raise ValueError("must not start with 'aws:' (reserved for AWS)")
    bad = next((c for c in raw if not _is_allowed_char(c)), None)
    if bad is not None:
        raise ValueError(f"has character {bad!r}; a tag key may hold letters, digits, spaces and _ . : / = + - @")
    return raw


def _choice(allowed: tuple[str, ...], normalise: Callable[[str], str]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = normalise(raw.strip())
        if value not in allowed:
            raise ValueError("must be " + " or ".join([", ".join(allowed[:-1]), allowed[-1]]))
        return value

    return parse


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ValueError("must be true or false (also accepted: 1/0, yes/no)")


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        text = raw.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 6) or not low <= int(text) <= high:
            raise ValueError(f"must be an integer {low}..{high}")
        return int(text)

    return parse


def _seconds(minimum: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum:
            raise ValueError(f"must be a number of seconds >= {minimum:g}")
        return value

    return parse


def _show(raw: str) -> str:
    shown = repr(raw)
    return shown if len(shown) <= 80 else shown[:76] + "...'"
