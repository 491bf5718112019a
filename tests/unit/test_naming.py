"""The name template language: compiling, rendering, validation and per-ASG overrides."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Iterator, Mapping

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from handler.naming import (
    ALLOWED_SYMBOLS,
    DEFAULT_TEMPLATE,
    NOTIFICATION_METADATA_TEMPLATE_KEY,
    InstanceFacts,
    InvalidName,
    MissingIp,
    MissingTag,
    NameTemplate,
    NeedsSlot,
    RenderPolicy,
    TemplateError,
    compile_template,
    host_label,
    is_allowed_char,
    replace_invalid_chars,
    template_from_metadata,
    validate_name,
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONVENTION_TAGS = {"Region": "vg", "App": "store", "Layer": "web", "Env": "release", "Group": "a"}


def facts(
    *,
    tags: Mapping[str, str] | None = None,
    ip: str | None = "10.0.12.34",
    instance_id: str = "i-0123456789abcdef0",
    az: str | None = "us-east-1a",
    asg: str | None = "web-asg",
    region: str | None = "us-east-1",
) -> InstanceFacts:
    return InstanceFacts(instance_id, ip, CONVENTION_TAGS if tags is None else tags, az, asg, region)


def render(template: str, **kwargs: object) -> object:
    return compile_template(template).render(facts(**kwargs))  # type: ignore[arg-type]


# --- compiling -------------------------------------------------------------------------------------


def test_default_convention_names_the_example_instance() -> None:
    # GIVEN the default template and the documented example facts
    # WHEN it is rendered
    # THEN the name follows the convention
    assert render(DEFAULT_TEMPLATE) == "vg-store-web-release-a-12-34"


def test_compiled_template_exposes_what_it_needs() -> None:
    # GIVEN the default template / WHEN compiled
    template = compile_template(DEFAULT_TEMPLATE)
    # THEN it lists its tag keys in order and says it needs the IP
    assert template.tag_keys == ("Region", "App", "Layer", "Env", "Group")
    assert template.needs_ip
    assert not compile_template("{tag:App}-{tag:App}-{instance_id}").needs_ip
    assert compile_template("{tag:App}-{tag:App}").tag_keys == ("App",)


def test_compiled_templates_are_hashable_and_cached() -> None:
    # GIVEN the same text compiled twice / THEN the same (hashable) object comes back
    first, second = compile_template("{asg}-{ip4}"), compile_template("{asg}-{ip4}")
    assert first is second
    assert hash(first) == hash(NameTemplate(first.source, first.parts))
    assert repr(first) == "NameTemplate('{asg}-{ip4}')"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{ip}", "10.0.12.34"),
        ("{ip1}.{ip2}.{ip3}.{ip4}", "10.0.12.34"),
        ("{instance_id}", "i-0123456789abcdef0"),
        ("{az}/{region}/{asg}", "us-east-1a/us-east-1/web-asg"),
        ("web @ {tag:App}", "web @ store"),
        ("{tag:aws:autoscaling:groupName}", "grp"),
        ("{tag:Cost Center}+{tag:a.b/c=d@e}", "cc+x"),
        ("static-name", "static-name"),
    ],
)
def test_placeholders_render(template: str, expected: str) -> None:
    # GIVEN facts with every kind of value
    tags = {**CONVENTION_TAGS, "aws:autoscaling:groupName": "grp", "Cost Center": "cc", "a.b/c=d@e": "x"}
    # WHEN the template is rendered / THEN each placeholder is replaced by its value
    assert render(template, tags=tags) == expected


def test_ip_octets_are_normalised() -> None:
    # GIVEN an IP written with leading zeros / WHEN rendered / THEN octets are plain numbers
    assert render("{ip}-{ip3}", ip="010.000.012.034") == "10.0.12.34-12"


@pytest.mark.parametrize(
    ("template", "position", "reason"),
    [
        ("", None, "template is empty"),
        ("{nope}", 0, "unknown placeholder {nope}"),
        ("ab{IP}", 2, "unknown placeholder {IP}"),
        ("x-{tag}", 2, "unknown placeholder {tag}"),
        ("x-{tag:}", 2, "empty tag key"),
        ("{tag:App", 0, "unclosed '{'"),
        ("App}", 3, "unmatched '}'"),
        ("{tag:a{b}}", 6, "'{' inside a placeholder"),
        ("{{literal}}", 0, "braces are not allowed in a name"),
        ("a}}", 1, "braces are not allowed in a name"),
        ("a#b", 1, "character '#' (U+0023) is not allowed"),
        ("{tag:a#b}", 0, "character '#' is not allowed in tag key"),
        ("{tag:" + "k" * 129 + "}", 0, "tag key is 129 characters long"),
        (" {asg}", 0, "starts with whitespace"),
        ("{asg}\t", 5, "character '\\t' (U+0009) is not allowed"),
        ("{asg} ", 5, "ends with whitespace"),
        ("x" * 256, None, "literal text alone is 256 characters"),
        ("x" * 3000, None, "the limit is 2048"),
    ],
)
def test_compile_errors_say_where_and_why(template: str, position: int | None, reason: str) -> None:
    # GIVEN a broken template / WHEN compiled
    with pytest.raises(TemplateError) as caught:
        compile_template(template)
    # THEN the error gives the index and the reason
    assert caught.value.position == position
    assert reason in caught.value.reason
    if position is not None:
        assert str(caught.value).startswith(f"at index {position}: ")


@pytest.mark.parametrize(
    "template",
    ["{0.__class__}", "{ip.__class__}", "{instance_id!r}", "{ip:>10}", "{tag:App.__class__}x{", "{__import__}"],
)
def test_format_syntax_is_not_a_way_in(template: str) -> None:
    # GIVEN str.format-style attribute access, conversions and format specs
    # WHEN compiled / THEN they are errors, never evaluated
    with pytest.raises(TemplateError):
        compile_template(template)


def test_dunder_tag_keys_are_plain_tag_lookups() -> None:
    # GIVEN a template reading a tag named like a Python attribute
    template = compile_template("{tag:__class__}-{tag:__dict__}")
    # WHEN rendered with and without such tags
    # THEN it is the tag's value, or a missing tag: never an attribute of anything
    assert template.render(facts(tags={"__class__": "c", "__dict__": "d"})) == "c-d"
    assert template.render(facts(tags={})) == MissingTag(("__class__", "__dict__"))


# --- rendering problems ----------------------------------------------------------------------------


def test_missing_tags_are_all_listed() -> None:
    # GIVEN an instance with only some of the convention's tags
    result = render(DEFAULT_TEMPLATE, tags={"App": "store", "Env": "prod"})
    # WHEN rendered / THEN every missing key is named, in template order, and the problem is permanent
    assert result == MissingTag(("Region", "Layer", "Group"))
    assert isinstance(result, MissingTag) and not result.transient
    assert "'Region', 'Layer', 'Group'" in result.reason


def test_missing_ip_is_transient() -> None:
    # GIVEN an instance without a private IP yet / WHEN a template needing it is rendered
    result = render("{tag:App}-{ip4}", ip=None)
    # THEN it is a transient problem
    assert isinstance(result, MissingIp) and result.transient
    # AND a template that does not need the IP is unaffected
    assert render("{tag:App}-{instance_id}", ip=None) == "store-i-0123456789abcdef0"


def test_missing_tag_wins_over_missing_ip() -> None:
    # GIVEN no IP and a missing tag / WHEN rendered / THEN the permanent problem is reported (waiting cannot help)
    assert isinstance(render("{tag:Nope}-{ip}", ip=None), MissingTag)


@pytest.mark.parametrize("ip", ["fe80::1", "10.0.12", "10.0.12.256", "10.0.12.x", "10.0.12.34.5", "١.٢.٣.٤"])
def test_non_ipv4_addresses_are_invalid(ip: str) -> None:
    # GIVEN a private address that is not dotted IPv4 / WHEN an IP placeholder renders
    result = render("{ip4}", ip=ip)
    # THEN the name is invalid and the reason quotes the address
    assert isinstance(result, InvalidName) and repr(ip) in result.reason


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"tags": {**CONVENTION_TAGS, "Env": ""}}, "placeholder {tag:Env} is empty"),
        ({"tags": {**CONVENTION_TAGS, "Env": "  "}}, "placeholder {tag:Env} is empty ('  ')"),
        ({"tags": {**CONVENTION_TAGS, "App": "st#re"}}, "character '#' (U+0023) at index 5 (from {tag:App})"),
        ({"tags": {**CONVENTION_TAGS, "App": "a\nb"}}, "character '\\n' (U+000A) at index 4 (from {tag:App})"),
        ({"tags": {**CONVENTION_TAGS, "Region": " vg"}}, "leading or trailing whitespace"),
        ({"tags": {**CONVENTION_TAGS, "App": "s" * 300}}, "name is 323 characters long; it must be 1..255"),
    ],
)
def test_invalid_names_say_exactly_why(kwargs: dict[str, object], expected: str) -> None:
    # GIVEN facts that produce an unusable name / WHEN rendered
    result = render(DEFAULT_TEMPLATE, **kwargs)
    # THEN the problem is permanent and its reason is precise
    assert isinstance(result, InvalidName) and not result.transient
    assert expected in result.reason


@pytest.mark.parametrize(("field", "label"), [("az", "{az}"), ("region", "{region}"), ("asg", "{asg}")])
def test_unknown_fixed_values_are_invalid(field: str, label: str) -> None:
    # GIVEN facts lacking the AZ, Region or ASG name / WHEN a template using it renders
    result = render(f"x-{label}", **{field: None})
    # THEN the placeholder is named
    assert isinstance(result, InvalidName) and f"placeholder {label} has no value" in result.reason


def test_unicode_letters_and_digits_are_allowed() -> None:
    # GIVEN tag values with non-ASCII letters / WHEN rendered / THEN they are kept
    assert render("{tag:City}-{ip4}", tags={"City": "Zürich"}) == "Zürich-34"


def test_render_survives_a_hostile_mapping() -> None:
    # GIVEN a tags mapping that raises on lookup
    class Exploding(Mapping[str, str]):
        def __getitem__(self, key: str) -> str:
            raise RuntimeError("boom")

        def __iter__(self) -> Iterator[str]:
            return iter(["App"])

        def __len__(self) -> int:
            return 1

        def __contains__(self, key: object) -> bool:
            return True

    # WHEN rendered / THEN it is an InvalidName, not an exception
    result = compile_template("{tag:App}").render(facts(tags=Exploding()))
    assert isinstance(result, InvalidName) and "RuntimeError: boom" in result.reason


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ok-name", None),
        ("", "name is 0 characters long"),
        ("a" * 255, None),
        ("a" * 256, "name is 256 characters long"),
        ("a b", None),
        (" a", "leading or trailing whitespace"),
        ("a\u00a0b", "U+00A0"),
        ("a{b", "character '{'"),
    ],
)
def test_validate_name(name: str, expected: str | None) -> None:
    # GIVEN a candidate name / WHEN validated / THEN the verdict and reason are as documented
    reason = validate_name(name)
    assert reason is None if expected is None else (reason is not None and expected in reason)


# --- per-ASG template in hook metadata -------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [None, "", "owner=platform", "[1, 2]", '"text"', '{"other": 1}', "{" * 10_000],
)
def test_metadata_without_our_key_is_left_alone(metadata: str | None) -> None:
    # GIVEN metadata that others may use / WHEN read / THEN no override and no error
    assert template_from_metadata(metadata) is None


def test_metadata_template_override() -> None:
    # GIVEN metadata carrying our key among others / WHEN read / THEN the template text comes back
    metadata = json.dumps({"team": "x", NOTIFICATION_METADATA_TEMPLATE_KEY: "{asg}-{ip4}"})
    assert template_from_metadata(metadata) == "{asg}-{ip4}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, "must be a string, got int"),
        (None, "must be a string, got NoneType"),
        ("{bad}", "at index 0: unknown placeholder {bad}"),
        ("", "template is empty"),
    ],
)
def test_metadata_with_a_bad_template_is_an_error(value: object, expected: str) -> None:
    # GIVEN our key holding something that is not a usable template
    metadata = json.dumps({NOTIFICATION_METADATA_TEMPLATE_KEY: value})
    # WHEN read / THEN a TemplateError names the key and the problem
    with pytest.raises(TemplateError) as caught:
        template_from_metadata(metadata)
    assert NOTIFICATION_METADATA_TEMPLATE_KEY in str(caught.value)
    assert expected in str(caught.value)


# --- properties ------------------------------------------------------------------------------------

SAFE_ALPHABET = st.characters(categories=("Lu", "Ll", "Nd"), codec="utf-8") | st.sampled_from(ALLOWED_SYMBOLS)
safe_values = st.text(SAFE_ALPHABET, min_size=1, max_size=20).filter(lambda v: v == v.strip())
template_pieces = st.sampled_from(
    ["{", "}", "{{", "}}", "tag:", "{tag:", "ip", "ip3", "{ip4}", "{asg}", "az", "region", "instance_id",
     ".", "__class__", "!r", ":>10", "0", " ", "-", "#", "App", "{tag:App}", "\t", "é"]
)  # fmt: skip
template_texts = st.lists(template_pieces | st.text(max_size=3), max_size=12).map("".join) | st.text()
TAG_KEYS = ["App", "Env", "__class__", "a b", "x"]
placeholders = st.sampled_from(
    ["{ip}", "{ip1}", "{ip2}", "{ip3}", "{ip4}", "{instance_id}", "{az}", "{asg}", "{region}"]
) | (st.sampled_from(TAG_KEYS) | safe_values).map(lambda key: "{tag:" + key + "}")
valid_templates = st.lists(placeholders | safe_values, min_size=1, max_size=6).map("".join)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda o: ".".join(map(str, o)))


@st.composite
def any_facts(draw: st.DrawFn) -> InstanceFacts:
    tag_keys = st.sampled_from(TAG_KEYS) | st.text(max_size=5)
    return InstanceFacts(
        instance_id=draw(st.text(max_size=20)),
        private_ip=draw(st.none() | ipv4 | st.text(max_size=16)),
        tags=draw(st.dictionaries(tag_keys, st.text(max_size=30), max_size=6)),
        az=draw(st.none() | st.text(max_size=12)),
        asg_name=draw(st.none() | st.text(max_size=40)),
        region=draw(st.none() | st.text(max_size=12)),
    )


@PROPERTY
@given(template_texts)
def test_compiling_any_text_raises_only_template_errors(text: str) -> None:
    # GIVEN any text / WHEN compiled / THEN a template or a TemplateError with a position inside the text
    try:
        template = compile_template(text)
    except TemplateError as error:
        assert error.reason
        assert error.position is None or 0 <= error.position < len(text)
        return
    assert template.source == text


@PROPERTY
@given(valid_templates | template_texts, any_facts())
def test_rendering_never_raises_and_names_always_validate(text: str, instance: InstanceFacts) -> None:
    # GIVEN any compilable template and any facts
    try:
        template = compile_template(text)
    except TemplateError:
        assume(False)
        return

    class Recording(dict[str, str]):
        def __init__(self, data: Mapping[str, str]) -> None:
            super().__init__(data)
            self.read: set[str] = set()

        def __getitem__(self, key: str) -> str:
            self.read.add(key)
            return super().__getitem__(key)

    tags = Recording(instance.tags)
    # WHEN rendered
    result = template.render(dataclasses.replace(instance, tags=tags))
    # THEN the result is a name that validates, or a typed problem; only the template's tags were read
    if isinstance(result, str):
        assert validate_name(result) is None
    else:
        assert isinstance(result, MissingIp | MissingTag | InvalidName) and result.reason
    assert tags.read <= set(template.tag_keys)


@PROPERTY
@given(st.text(max_size=300))
def test_literal_templates_compile_exactly_when_the_text_is_a_valid_name(text: str) -> None:
    # GIVEN text without braces used as a template
    assume("{" not in text and "}" not in text)
    # WHEN compiled and rendered / THEN compile and validation agree, and the name is the text itself
    try:
        template = compile_template(text)
    except TemplateError:
        assert validate_name(text) is not None
        return
    assert validate_name(text) is None
    assert template.render(facts()) == text


@PROPERTY
@given(
    st.tuples(*[safe_values] * 5),
    ipv4,
)
def test_default_convention_round_trips(values: tuple[str, ...], ip: str) -> None:
    # GIVEN safe values for every convention tag and any IPv4 address
    tags = dict(zip(["Region", "App", "Layer", "Env", "Group"], values, strict=True))
    # WHEN the default template renders
    result = compile_template(DEFAULT_TEMPLATE).render(facts(tags=tags, ip=ip))
    # THEN it is exactly the dash-joined values and the last two octets
    octets = ip.split(".")
    assert result == "-".join([*values, octets[2], octets[3]])


# --- INVALID_CHARS=replace (issue: ABANDON could loop on a tag value with '(' or ',') ------------------

REPLACE = RenderPolicy(replace_invalid=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("store (eu)", "store -eu"),
        ("a&b,c", "a-b-c"),
        ("((x))", "x"),
        ("a#!?b", "a-b"),
        ("Zürich", "Zürich"),
    ],
)
def test_characters_a_name_may_not_hold_are_replaced_by_one_dash_per_run(value: str, expected: str) -> None:
    # GIVEN a tag value with characters a Name may not hold, and INVALID_CHARS=replace
    result = compile_template("{tag:App}-{ip4}").render(facts(tags={"App": value}), REPLACE)
    # THEN each run of them is one '-', trimmed at the value's ends, and the name is usable
    assert result == f"{expected}-34"


def test_a_value_made_only_of_invalid_characters_is_still_a_permanent_failure() -> None:
    result = compile_template("{tag:App}-{ip4}").render(facts(tags={"App": "(&)"}), REPLACE)
    assert isinstance(result, InvalidName) and "placeholder {tag:App} is empty" in result.reason


def test_fail_mode_keeps_refusing_such_values() -> None:
    result = compile_template("{tag:App}").render(facts(tags={"App": "store (eu)"}))
    assert isinstance(result, InvalidName) and "'('" in result.reason


@PROPERTY
@given(st.text(max_size=40))
def test_replacement_leaves_only_characters_a_name_may_hold(value: str) -> None:
    replaced = replace_invalid_chars(value)
    assert all(is_allowed_char(char) for char in replaced)
    # each maximal run of characters a name may not hold became exactly one '-', then the ends were trimmed
    runs = itertools.groupby(value, is_allowed_char)
    assert replaced == "".join("".join(chars) if allowed else "-" for allowed, chars in runs).strip(" -")
    assert replace_invalid_chars(replaced) == replaced  # idempotent


# --- HOSTNAME_SAFE ----------------------------------------------------------------------------------

LABEL = RenderPolicy(hostname_safe=True)
HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (CONVENTION_TAGS, "vg-store-web-release-a-12-34"),
        ({**CONVENTION_TAGS, "App": "Store (EU)"}, "vg-store-eu-web-release-a-12-34"),
        ({**CONVENTION_TAGS, "Region": "_vg_"}, "vg-store-web-release-a-12-34"),
        ({**CONVENTION_TAGS, "App": "Zürich"}, "vg-z-rich-web-release-a-12-34"),
    ],
)
def test_hostname_safe_names_are_host_labels(tags: dict[str, str], expected: str) -> None:
    result = compile_template(DEFAULT_TEMPLATE).render(facts(tags=tags), LABEL)
    assert result == expected and HOST_LABEL.fullmatch(result)


def test_a_hostname_safe_name_over_63_characters_is_a_permanent_failure_with_its_reason() -> None:
    result = compile_template("{tag:App}").render(facts(tags={"App": "a" * 64}), LABEL)
    assert isinstance(result, InvalidName) and "64 characters long" in result.reason and "63" in result.reason


def test_a_name_with_nothing_a_label_can_hold_is_a_permanent_failure() -> None:
    result = compile_template("{tag:App}").render(facts(tags={"App": "__"}), LABEL)
    assert isinstance(result, InvalidName) and "no character a host label can hold" in result.reason


def test_a_character_a_tag_may_not_hold_next_to_a_dash_joins_its_run_in_a_host_label() -> None:
    # GIVEN a tag value with a control character beside a dash (found by the property test below)
    result = compile_template("{tag:X}").render(facts(tags={"X": "0-\x000"}), LABEL)
    # THEN the run '-\x00' becomes one dash, as host_label says, not two
    assert result == host_label("0-\x000") == "0-0"


@PROPERTY
@given(st.text(max_size=90))
def test_the_host_label_transformation_is_idempotent_and_always_a_label_or_a_reason(text: str) -> None:
    label = host_label(text)
    assert host_label(label) == label
    result = compile_template("{tag:X}").render(facts(tags={"X": text}), LABEL)
    if isinstance(result, str):
        assert HOST_LABEL.fullmatch(result) and result == label
    else:
        assert isinstance(result, InvalidName) and result.reason


# --- {slot} -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "pool", "slot", "name"),
    [
        ("{tag:App}-{tag:Env}-{slot}", "store-release-{slot}", 7, "store-release-7"),
        ("{tag:App}-{tag:Env}-{slot:2}", "store-release-{slot}", 7, "store-release-07"),
        ("{slot:3}.{tag:App}", "{slot}.store", 12, "012.store"),
        ("web-{slot:2}", "web-{slot}", 123, "web-123"),
    ],
)
def test_a_slot_template_renders_to_its_pool_and_the_number_fills_it(
    template: str, pool: str, slot: int, name: str
) -> None:
    # GIVEN a template with {slot} / WHEN rendered
    result = compile_template(template).render(facts())
    # THEN everything but the number is known: the pool, shared by every name that renders the same way
    assert isinstance(result, NeedsSlot) and result.pool == pool
    assert result.name_for(slot) == name


def test_two_templates_that_render_the_same_prefix_share_one_pool() -> None:
    first = compile_template("{tag:App}-{slot}").render(facts(tags={"App": "web"}))
    second = compile_template("web-{slot:3}").render(facts())
    assert isinstance(first, NeedsSlot) and isinstance(second, NeedsSlot) and first.pool == second.pool


def test_hostname_safe_slot_names_are_labels() -> None:
    result = compile_template("{tag:App}-{slot:2}").render(facts(tags={"App": "Web (EU)"}), LABEL)
    assert isinstance(result, NeedsSlot) and result.pool == "web-eu-{slot}" and result.name_for(3) == "web-eu-03"


@pytest.mark.parametrize(
    ("template", "message", "index"),
    [
        ("a-{slot:0}", "the slot width must be a number 1..9", 2),
        ("a-{slot:10}", "the slot width must be a number 1..9", 2),
        ("a-{slot:x}", "the slot width must be a number 1..9", 2),
        ("{slot}-{slot:2}", "at most one {slot}", 7),
        ("a-{slots}", "unknown placeholder {slots}", 2),
    ],
)
def test_slot_grammar_errors_name_their_index(template: str, message: str, index: int) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template(template)
    assert message in str(caught.value) and caught.value.position == index


def test_a_slot_name_that_would_grow_past_the_limit_says_so() -> None:
    result = compile_template(f"{'a' * 250}-{{slot}}").render(facts())
    assert isinstance(result, NeedsSlot)
    assert result.name_for(9999) == InvalidName("name with slot 9999 is 255 characters long; the limit is 255") or (
        isinstance(result.name_for(99999), InvalidName)
    )


def test_a_template_of_only_a_slot_is_a_host_label_too() -> None:
    result = compile_template("{slot:2}").render(facts(), LABEL)
    assert isinstance(result, NeedsSlot) and result.name_for(4) == "04"
