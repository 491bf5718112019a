"""Name templates: a tiny, safe language that turns instance facts into a Name tag value.

Templates come from configuration and from hook metadata, i.e. from people, so they are never given to
``str.format`` (which reaches attributes and indexes). The grammar is literal text plus placeholders:

    {tag:KEY}        value of the instance tag KEY (KEY: letters, digits, spaces and _ . : / = + - @)
    {ip}             private IPv4 address, {ip1}..{ip4} its octets
    {instance_id}    {az} Availability Zone    {asg} Auto Scaling group name    {region} Region
    {slot} {slot:N}  the smallest free number in the name's pool (N: zero-padded to N digits, 1..9); the
                     pool is the rendered name with the number left out (handler/slots.py hands them out)
    {{  }}           a literal brace (the grammar has them, but braces are not allowed in a name, so
                     compiling rejects them with a precise reason rather than every rendering failing)

Compiling reports every mistake with its index (0-based) so configuration checks can fail at start-up;
rendering never raises and returns either the name (a str), the name short of its slot (NeedsSlot), or a
typed problem the handler maps to an outcome: MissingIp is transient (wait, render again), MissingTag and
InvalidName are permanent. A RenderPolicy says what to do with values a name cannot hold as they are
(INVALID_CHARS=replace: each run of such characters becomes one '-') and whether the name must be an
RFC 1123 host label (HOSTNAME_SAFE).
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, TypeAlias

DEFAULT_TEMPLATE = "{tag:Region}-{tag:App}-{tag:Layer}-{tag:Env}-{tag:Group}-{ip3}-{ip4}"
# A hook's NotificationMetadata may be a JSON object; this key in it overrides the template for that ASG.
# Metadata that is not JSON, or lacks the key, is left alone (others may use hook metadata too).
NOTIFICATION_METADATA_TEMPLATE_KEY = "asg-namer:name-template"
MAX_NAME_LENGTH = 255
MAX_TAG_KEY_LENGTH = 128
MAX_TEMPLATE_LENGTH = 2048
ALLOWED_SYMBOLS = " _.:/=+-@"
MAX_HOST_LABEL_LENGTH = 63
MAX_SLOT_WIDTH = 9
_FIXED_PLACEHOLDERS = ("ip", "ip1", "ip2", "ip3", "ip4", "instance_id", "az", "asg", "region")
_IP_PLACEHOLDERS = frozenset(_FIXED_PLACEHOLDERS[:5])
SLOT_IN_POOL = "{slot}"  # where the number goes in a pool key; braces never occur in a name
_SLOT_MARK = "\x00"  # stands for the slot while the rest of the name is rendered and checked
# a run of characters a label cannot hold, with the dashes around it: one '-' (never "store-eu--web")
_NOT_IN_LABEL = re.compile("[^a-z0-9]*[^a-z0-9-][^a-z0-9]*")


class TemplateError(ValueError):
    """A template (or the metadata carrying one) is unusable; ``position`` is a 0-based index or None."""

    def __init__(self, reason: str, position: int | None = None) -> None:
        super().__init__(reason if position is None else f"at index {position}: {reason}")
        self.reason = reason
        self.position = position


def is_allowed_char(char: str) -> bool:
    """Letters, digits, space and ``_ . : / = + - @``: safe in tag values everywhere (docs/aws-behaviour.md)."""
    return char.isalpha() or char.isdecimal() or char in ALLOWED_SYMBOLS


def validate_name(name: str) -> str | None:
    """None when ``name`` is a valid Name tag value, else the precise reason it is not."""
    return _first_problem([(name, "")])


@dataclass(frozen=True)
class InstanceFacts:
    """What we know about one instance; ``private_ip`` is None until EC2 has assigned one."""

    instance_id: str
    private_ip: str | None
    tags: Mapping[str, str]
    az: str | None
    asg_name: str | None
    region: str | None


@dataclass(frozen=True)
class MissingIp:
    """The template needs the private IP and the instance has none yet: wait and render again."""

    transient: ClassVar[bool] = True

    @property
    def reason(self) -> str:
        return "the template needs the private IP and the instance has none yet"


@dataclass(frozen=True)
class MissingTag:
    """Tags the template needs are absent; by policy that does not fix itself."""

    keys: tuple[str, ...]
    transient: ClassVar[bool] = False

    @property
    def reason(self) -> str:
        return "instance lacks tag(s) the template needs: " + ", ".join(repr(k) for k in self.keys)


@dataclass(frozen=True)
class InvalidName:
    """The facts render to something that cannot be a Name tag value."""

    reason: str
    transient: ClassVar[bool] = False


@dataclass(frozen=True)
class NeedsSlot:
    """Everything but the number is rendered; instances whose names share ``pool`` share one numbering."""

    pool: str  # the name with SLOT_IN_POOL where the number goes
    width: int  # zero-padded to this many digits
    max_length: int  # 255 for a tag value, 63 for a host label

    def name_for(self, slot: int) -> str | InvalidName:
        name = self.pool.replace(SLOT_IN_POOL, str(slot).zfill(self.width))
        if len(name) > self.max_length:
            return InvalidName(f"name with slot {slot} is {len(name)} characters long; the limit is {self.max_length}")
        return name


@dataclass(frozen=True)
class RenderPolicy:
    """What rendering does with values it cannot use as they are: INVALID_CHARS and HOSTNAME_SAFE."""

    replace_invalid: bool = False  # each run of characters a name may not hold becomes one '-', trimmed
    hostname_safe: bool = False  # the name must be an RFC 1123 host label (lower case a-z 0-9 -, 1..63)


STRICT = RenderPolicy()

NameProblem: TypeAlias = MissingIp | MissingTag | InvalidName
# A valid name (str), a name short of its slot, or the problem preventing one.
NameResult: TypeAlias = str | NeedsSlot | MissingIp | MissingTag | InvalidName


@dataclass(frozen=True)
class _Literal:
    text: str


@dataclass(frozen=True)
class _Placeholder:
    name: str  # one of _FIXED_PLACEHOLDERS, or "tag"
    key: str = ""

    @property
    def label(self) -> str:
        if self.name == "slot":
            return f"{{slot:{self.key}}}" if self.key else "{slot}"
        return f"{{tag:{self.key}}}" if self.name == "tag" else f"{{{self.name}}}"


@dataclass(frozen=True, repr=False)
class NameTemplate:
    """A compiled template: immutable and hashable, so it can be cached and shared between threads."""

    source: str
    parts: tuple[_Literal | _Placeholder, ...]

    def __repr__(self) -> str:
        return f"NameTemplate({self.source!r})"

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """Tag keys the template reads, in first-use order."""
        keys = (p.key for p in self.parts if isinstance(p, _Placeholder) and p.name == "tag")
        return tuple(dict.fromkeys(keys))

    @property
    def needs_ip(self) -> bool:
        return any(isinstance(p, _Placeholder) and p.name in _IP_PLACEHOLDERS for p in self.parts)

    @property
    def has_slot(self) -> bool:
        return any(isinstance(p, _Placeholder) and p.name == "slot" for p in self.parts)

    @property
    def unique_by_construction(self) -> bool:
        """Two live instances can never render the same name ({instance_id} or {slot}): no collision check."""
        return any(isinstance(p, _Placeholder) and p.name in ("slot", "instance_id") for p in self.parts)

    def render(self, facts: InstanceFacts, policy: RenderPolicy = STRICT) -> NameResult:
        """Name for these facts, or the problem preventing one. Never raises."""
        try:
            return self._render(facts, policy)
        except Exception as exc:  # a defect or a hostile Mapping must not crash a batch
            return InvalidName(f"rendering failed unexpectedly: {type(exc).__name__}: {exc}")

    def _render(self, facts: InstanceFacts, policy: RenderPolicy) -> NameResult:
        missing = tuple(key for key in self.tag_keys if key not in facts.tags)
        if missing:
            return MissingTag(missing)
        octets: list[str] = []
        if self.needs_ip:
            if not facts.private_ip:
                return MissingIp()
            parsed = _ipv4_octets(facts.private_ip)
            if parsed is None:
                return InvalidName(f"private IP {facts.private_ip!r} is not a dotted IPv4 address")
            octets = parsed
        pieces: list[tuple[str, str]] = []
        width = 0
        for part in self.parts:
            if isinstance(part, _Literal):
                pieces.append((part.text, ""))
                continue
            if part.name == "slot":
                width = int(part.key or "1")
                pieces.append((_SLOT_MARK, part.label))
                continue
            value = _value(part, facts, octets)
            if not isinstance(value, str):
                return InvalidName(f"placeholder {part.label} has no value")
            if policy.hostname_safe:
                # the label transformation below replaces every character a label cannot hold (invalid ones
                # too, so they join the runs they stand in); the stand-in for {slot} must not come from a value
                value = value.replace(_SLOT_MARK, " ")
            elif policy.replace_invalid:
                value = replace_invalid_chars(value)
            if not value.strip():
                return InvalidName(f"placeholder {part.label} is empty" + (f" ({value!r})" if value else ""))
            pieces.append((value, part.label))
        if policy.hostname_safe:
            return _as_host_label("".join(text for text, _ in pieces), width if self.has_slot else None)
        problem = _first_problem(pieces, slot_width=width)
        if problem:
            return InvalidName(problem)
        name = "".join(text for text, _ in pieces)
        if self.has_slot:
            return NeedsSlot(name.replace(_SLOT_MARK, SLOT_IN_POOL), width, MAX_NAME_LENGTH)
        return name


def replace_invalid_chars(value: str) -> str:
    """INVALID_CHARS=replace: each run of characters a name may not hold becomes one '-'; '-' and spaces
    at either end are trimmed (``store (eu)`` -> ``store -eu``)."""
    out: list[str] = []
    in_run = False
    for char in value:
        if is_allowed_char(char):
            out.append(char)
        elif not in_run:
            out.append("-")
        in_run = not is_allowed_char(char)
    return "".join(out).strip(" -")


def host_label(text: str) -> str:
    """HOSTNAME_SAFE: lower case, each run of characters outside a-z 0-9 - (with the dashes next to it)
    becomes one '-', no '-' at either end. The result may still be empty or too long: rendering says why."""
    return _NOT_IN_LABEL.sub("-", text.lower()).strip("-")


def _label_around_slot(text: str) -> str:
    """host_label for a name holding the slot's stand-in: each side transformed, the stand-in kept."""
    left, mark, right = text.partition(_SLOT_MARK)
    return (_NOT_IN_LABEL.sub("-", left.lower()) + mark + _NOT_IN_LABEL.sub("-", right.lower())).strip("-")


def _as_host_label(text: str, slot_width: int | None) -> str | NeedsSlot | InvalidName:
    label = _label_around_slot(text) if slot_width is not None else host_label(text)
    digits = slot_width or 0
    if not label:
        return InvalidName(f"name {text.replace(_SLOT_MARK, '')[:40]!r} has no character a host label can hold")
    length = len(label) - (1 if slot_width is not None else 0) + digits
    if length > MAX_HOST_LABEL_LENGTH:
        return InvalidName(
            f"host label {label.replace(_SLOT_MARK, SLOT_IN_POOL)[:70]!r} is {length} characters long;"
            f" HOSTNAME_SAFE allows at most {MAX_HOST_LABEL_LENGTH}"
        )
    if slot_width is not None:
        return NeedsSlot(label.replace(_SLOT_MARK, SLOT_IN_POOL), slot_width, MAX_HOST_LABEL_LENGTH)
    return label


def _value(part: _Placeholder, facts: InstanceFacts, octets: list[str]) -> str | None:
    if part.name == "tag":
        return facts.tags[part.key]
    if part.name == "ip":
        return ".".join(octets)
    if part.name in _IP_PLACEHOLDERS:
        return octets[int(part.name[2]) - 1]
    return {"instance_id": facts.instance_id, "az": facts.az, "asg": facts.asg_name, "region": facts.region}[part.name]


def _ipv4_octets(ip: str) -> list[str] | None:
    octets = ip.split(".")
    if len(octets) != 4 or not all(o.isascii() and o.isdigit() and len(o) <= 3 and int(o) <= 255 for o in octets):
        return None
    return [str(int(o)) for o in octets]


def _first_problem(pieces: list[tuple[str, str]], slot_width: int = 0) -> str | None:
    """Check the concatenation of (text, source label) pieces; name the offending source when known.

    A slot counts as ``slot_width`` digits (at least one): the number itself is always allowed.
    """
    digits = "0" * max(slot_width, 1)
    name = "".join(digits if _is_slot(label) else text for text, label in pieces)
    index = 0
    for text, label in pieces:
        if _is_slot(label):
            index += len(digits)
            continue
        for offset, char in enumerate(text):
            if not is_allowed_char(char):
                origin = f" (from {label})" if label else ""
                return (
                    f"character {char!r} (U+{ord(char):04X}) at index {index + offset}{origin} is not allowed;"
                    f" allowed: letters, digits, spaces and _ . : / = + - @"
                )
        index += len(text)
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        return f"name is {len(name)} characters long; it must be 1..{MAX_NAME_LENGTH}"
    if name != name.strip():
        return f"name {name[:40]!r} has leading or trailing whitespace"
    return None


def _is_slot(label: str) -> bool:
    return label.startswith("{slot")


def compile_template(text: str) -> NameTemplate:
    """Compile ``text`` (cached); raise TemplateError naming the first problem and its index."""
    if not isinstance(text, str):
        raise TemplateError(f"template must be a string, got {type(text).__name__}")
    return _compile(text)


@functools.lru_cache(maxsize=64)
def _compile(text: str) -> NameTemplate:
    if not text:
        raise TemplateError("template is empty")
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise TemplateError(f"template is {len(text)} characters long; the limit is {MAX_TEMPLATE_LENGTH}")
    parts: list[_Literal | _Placeholder] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text[i + 1 : i + 2] == char:
            raise TemplateError(f"'{char * 2}' is a literal {char!r}, and braces are not allowed in a name", i)
        elif char == "}":
            raise TemplateError("unmatched '}'", i)
        elif char == "{":
            end = text.find("}", i + 1)
            nested = text.find("{", i + 1)
            if end < 0:
                raise TemplateError("unclosed '{'", i)
            if 0 <= nested < end:
                raise TemplateError("'{' inside a placeholder", nested)
            if literal:
                parts.append(_Literal("".join(literal)))
                literal = []
            parts.append(_placeholder(text[i + 1 : end], i))
            i = end + 1
        else:
            if not is_allowed_char(char):
                raise TemplateError(f"character {char!r} (U+{ord(char):04X}) is not allowed in a name", i)
            literal.append(char)
            i += 1
    if literal:
        parts.append(_Literal("".join(literal)))
    _check_literals(text, parts)
    return NameTemplate(text, tuple(parts))


def _placeholder(body: str, position: int) -> _Placeholder:
    if body in _FIXED_PLACEHOLDERS:
        return _Placeholder(body)
    if body == "slot":
        return _Placeholder("slot")
    if body.startswith("slot:"):
        width = body[5:]
        if not (width.isascii() and width.isdigit() and 1 <= int(width) <= MAX_SLOT_WIDTH):
            raise TemplateError(f"'{{{body[:20]}}}': the slot width must be a number 1..{MAX_SLOT_WIDTH}", position)
        return _Placeholder("slot", str(int(width)))
    if body.startswith("tag:"):
        key = body[4:]
        if not key:
            raise TemplateError("empty tag key in '{tag:}'", position)
        if len(key) > MAX_TAG_KEY_LENGTH:
            raise TemplateError(f"tag key is {len(key)} characters long; the limit is {MAX_TAG_KEY_LENGTH}", position)
        bad = next((c for c in key if not is_allowed_char(c)), None)
        if bad is not None:
            raise TemplateError(f"character {bad!r} is not allowed in tag key {key[:40]!r}", position)
        return _Placeholder("tag", key)
    known = ", ".join(f"{{{name}}}" for name in ("tag:KEY", *_FIXED_PLACEHOLDERS, "slot", "slot:N"))
    raise TemplateError(f"unknown placeholder {{{body[:40]}}}; known: {known}", position)


def _check_literals(text: str, parts: list[_Literal | _Placeholder]) -> None:
    """Fail at compile time on what every rendering would fail on."""
    fixed = sum(len(p.text) for p in parts if isinstance(p, _Literal))
    slots = [p for p in parts if isinstance(p, _Placeholder) and p.name == "slot"]
    if len(slots) > 1:
        raise TemplateError("a template can hold at most one {slot}", text.find("{slot", text.find("{slot") + 1))
    if fixed > MAX_NAME_LENGTH:
        raise TemplateError(f"literal text alone is {fixed} characters; a name can have at most {MAX_NAME_LENGTH}")
    first, last = parts[0], parts[-1]
    if isinstance(first, _Literal) and first.text != first.text.lstrip():
        raise TemplateError("template starts with whitespace", 0)
    if isinstance(last, _Literal) and last.text != last.text.rstrip():
        raise TemplateError("template ends with whitespace", len(text) - 1)


def template_from_metadata(metadata: str | Mapping[str, object] | None) -> str | None:
    """The per-group template in hook metadata, or None; TemplateError when the key holds a bad template.

    Metadata arrives as a JSON string (direct and SNS notifications, DescribeLifecycleHooks) or, in
    EventBridge events, already as a JSON object (an empty one too): both are read the same way.
    """
    if not metadata:
        return None
    if isinstance(metadata, str):
        try:
            data: object = json.loads(metadata)
        except (ValueError, RecursionError):
            return None
    else:
        data = metadata
    if not isinstance(data, Mapping) or NOTIFICATION_METADATA_TEMPLATE_KEY not in data:
        return None
    text = data[NOTIFICATION_METADATA_TEMPLATE_KEY]
    where = f"NotificationMetadata key {NOTIFICATION_METADATA_TEMPLATE_KEY!r}"
    if not isinstance(text, str):
        raise TemplateError(f"{where} must be a string, got {type(text).__name__}")
    try:
        compile_template(text)
    except TemplateError as exc:
        error = TemplateError(f"{where}: {exc}")
        error.position = exc.position
        raise error from None
    return text


class TemplateSource(enum.Enum):
    """Where a group's template came from, in the order they are tried."""

    EXPLICIT = "explicit"  # the operator's --name-template
    HOOK_METADATA = "hook metadata"  # the group's launch hook, key asg-namer:name-template
    CONFIGURED = "configured"  # NAME_TEMPLATE, else the default


@dataclass(frozen=True)
class ResolvedTemplate:
    template: NameTemplate
    source: TemplateSource


def resolve_template(
    hook_metadata: str | Mapping[str, object] | None,
    configured: NameTemplate,
    explicit: NameTemplate | None = None,
) -> ResolvedTemplate:
    """The one order every caller uses (handler, sweep, CLI): explicit, hook metadata, then configured.

    Raises TemplateError when the hook metadata names a template that does not compile.
    """
    if explicit is not None:
        return ResolvedTemplate(explicit, TemplateSource.EXPLICIT)
    override = template_from_metadata(hook_metadata)
    if override is not None:
        return ResolvedTemplate(compile_template(override), TemplateSource.HOOK_METADATA)
    return ResolvedTemplate(configured, TemplateSource.CONFIGURED)
