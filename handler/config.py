"""Settings from environment variables, read and checked once per execution environment.

A misconfigured function should fail at its first cold start with one message naming every bad
variable, not fail record by record later (and release instances with a default result nobody chose).
An unset or empty variable takes its default. ``VARIABLES`` is the one list of variables: the README's
configuration table is checked against it (tests/unit/test_readme.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from handler.naming import (
    DEFAULT_TEMPLATE,
    MAX_TAG_KEY_LENGTH,
    NameTemplate,
    RenderPolicy,
    TemplateError,
    compile_template,
)

FAILURE_RESULTS = ("ABANDON", "CONTINUE")
RETRY_MODES = ("standard", "adaptive", "legacy")
INVALID_CHARS_MODES = ("replace", "fail")
COLLISION_MODES = ("suffix", "fail")
# The one rule for NAME_TAG_KEY: the stack's NameTagKey AllowedPattern is this very string (a unit test
# compares them), so the stack can never deploy a key the function refuses at its cold start. It is
# written for both Python's and Java's (CloudFormation's) regular expressions.
NAME_TAG_KEY_PATTERN = "^(?![aA][wW][sS]:)[A-Za-z0-9 _.:/=+@-]{1,128}$"
# The tag every instance that cannot be named carries, whatever lifecycle result it got.
FAILURE_TAG_KEY = "asg-namer:naming-failed"
_SQS_ARN = re.compile(r"arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}")
_GROUP_NAME = re.compile(r"[\u0020-\uD7FF\uE000-\uFFFD]{1,255}")
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
    Variable(
        "NAME_TAG_KEY",
        "Name",
        "tag key the name is written to: 1..128 of A-Z a-z 0-9 space _ . : / = + @ -, not aws:...",
    ),
    Variable("FAILURE_RESULT", "ABANDON", "lifecycle result when an instance cannot be named: ABANDON or CONTINUE"),
    Variable(
        "ABANDON_BREAKER",
        "3",
        "after this many launches of a group abandoned by asg-namer in the last hour, complete with CONTINUE"
        " instead (0..1000; 0 turns the breaker off)",
    ),
    Variable(
        "INVALID_CHARS",
        "replace",
        "a tag value with characters a name may not hold: replace (each run becomes one -) or fail",
    ),
    Variable(
        "HOSTNAME_SAFE",
        "false",
        "make every name an RFC 1123 host label (lower case a-z 0-9 -, 1..63 characters)",
    ),
    Variable(
        "ON_COLLISION",
        "suffix",
        "a live instance already has the name: suffix (append - and the last 4 characters of the id) or fail",
    ),
    Variable("SLOT_TABLE", "", "DynamoDB table holding {slot} numbers (needed only by templates with {slot})"),
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
    Variable("QUEUE_ARN", "", "this deployment's queue: the sweep serves every group whose launch hook notifies it"),
    Variable("SWEEP_GROUPS", "", "comma-separated groups the sweep serves besides those (Launch Successful groups)"),
    Variable("SWEEP_FIX_DRIFT", "false", "the sweep renames instances whose Name differs from the template's"),
    Variable(
        "SWEEP_STUCK_AFTER_SECONDS",
        "300",
        "the sweep names and releases an instance waiting on this deployment's hook longer than this since launch",
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
    abandon_breaker: int
    invalid_chars: str
    hostname_safe: bool
    on_collision: str
    slot_table: str | None
    tag_attached: bool
    max_workers: int
    time_margin_seconds: float
    gone_after_seconds: float
    ip_wait_max_seconds: float
    retry_mode: str
    max_attempts: int
    queue_arn: str | None
    sweep_groups: tuple[str, ...]
    sweep_fix_drift: bool
    sweep_stuck_after_seconds: float
    service_name: str
    metrics_namespace: str
    region: str | None

    @property
    def render_policy(self) -> RenderPolicy:
        return RenderPolicy(replace_invalid=self.invalid_chars == "replace", hostname_safe=self.hostname_safe)

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
        "abandon_breaker": get("ABANDON_BREAKER", _integer(0, 1000)),
        "invalid_chars": get("INVALID_CHARS", _choice(INVALID_CHARS_MODES, str.lower)),
        "hostname_safe": get("HOSTNAME_SAFE", _bool),
        "on_collision": get("ON_COLLISION", _choice(COLLISION_MODES, str.lower)),
        "slot_table": get("SLOT_TABLE", _optional(_table_name)),
        "tag_attached": get("TAG_ATTACHED", _bool),
        "max_workers": get("MAX_WORKERS", _integer(1, 64)),
        "time_margin_seconds": get("TIME_MARGIN_SECONDS", _seconds(minimum=1)),
        "gone_after_seconds": get("GONE_AFTER_SECONDS", _seconds(minimum=1)),
        "ip_wait_max_seconds": get("IP_WAIT_MAX_SECONDS", _seconds(minimum=0)),
        "retry_mode": get("AWS_RETRY_MODE", _choice(RETRY_MODES, str.lower)),
        "max_attempts": get("AWS_MAX_ATTEMPTS", _integer(1, 20)),
        "queue_arn": get("QUEUE_ARN", _optional(_queue_arn)),
        "sweep_groups": get("SWEEP_GROUPS", _group_names),
        "sweep_fix_drift": get("SWEEP_FIX_DRIFT", _bool),
        "sweep_stuck_after_seconds": get("SWEEP_STUCK_AFTER_SECONDS", _seconds(minimum=0)),
        "service_name": get("POWERTOOLS_SERVICE_NAME", str),
        "metrics_namespace": get("POWERTOOLS_METRICS_NAMESPACE", str),
        "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
    }
    template = settings["name_template"]
    if template is not None and template.has_slot and not settings["slot_table"]:
        problems.append(f"NAME_TEMPLATE={_show(template.source)} uses {{slot}}, which needs SLOT_TABLE")
    if problems:
        raise ConfigError(problems)
    return Settings(**settings)


def _template(raw: str) -> NameTemplate:
    try:
        return compile_template(raw)
    except TemplateError as exc:
        raise ValueError(f"is not a valid name template: {exc}") from None


def _tag_key(raw: str) -> str:
    """NAME_TAG_KEY_PATTERN decides; the messages only say which part of it the value breaks."""
    if re.fullmatch(NAME_TAG_KEY_PATTERN, raw) is not None:
        return raw
    if not 1 <= len(raw) <= MAX_TAG_KEY_LENGTH:
        raise ValueError(f"must be a tag key of 1..{MAX_TAG_KEY_LENGTH} characters, not {len(raw)}")
    if raw.lower().startswith("aws:"):
        raise ValueError("must not start with 'aws:' (reserved for AWS)")
    bad = next(c for c in raw if re.fullmatch(r"[A-Za-z0-9 _.:/=+@-]", c) is None)
    raise ValueError(f"has character {bad!r}; the key may hold A-Z a-z 0-9, spaces and _ . : / = + @ -")


def _optional(parse: Callable[[str], str]) -> Callable[[str], str | None]:
    """An empty value means 'not set'; anything else must parse."""

    def parse_optional(raw: str) -> str | None:
        return parse(raw.strip()) if raw.strip() else None

    return parse_optional


def _queue_arn(raw: str) -> str:
    if _SQS_ARN.fullmatch(raw) is None:
        raise ValueError("must be an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)")
    return raw


def _table_name(raw: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", raw) is None:
        raise ValueError("must be a DynamoDB table name (3..255 of A-Z a-z 0-9 _ . -)")
    return raw


def _group_names(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    bad = next((name for name in names if _GROUP_NAME.fullmatch(name) is None), None)
    if bad is not None:
        raise ValueError(f"has {_show(bad)}, which is not an Auto Scaling group name")
    return names


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
