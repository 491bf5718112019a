"""Settings from the environment: defaults, parsing, and one error naming every bad variable."""

from __future__ import annotations

import dataclasses

import pytest

from handler.config import VARIABLES, ConfigError, Settings, load_settings
from handler.naming import DEFAULT_TEMPLATE, InstanceFacts

# What Lambda itself sets; none of it is ours to validate.
LAMBDA_ENV = {
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_LAMBDA_FUNCTION_NAME": "asg-namer",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "LAMBDA_TASK_ROOT": "/var/task",
}


def config_error(env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    return caught.value


def test_defaults_with_only_lambda_variables() -> None:
    # GIVEN only the variables Lambda sets
    # WHEN settings are loaded
    settings = load_settings(LAMBDA_ENV)
    # THEN every documented default applies
    assert settings.name_template.source == DEFAULT_TEMPLATE
    assert settings.name_tag_key == "Name"
    assert settings.failure_result == "ABANDON"
    assert settings.tag_attached is False
    assert settings.max_workers == 8
    assert settings.time_margin_seconds == 25
    assert settings.gone_after_seconds == 300
    assert settings.ip_wait_max_seconds == 60
    assert (settings.retry_mode, settings.max_attempts) == ("adaptive", 3)
    assert settings.retries == {"mode": "adaptive", "total_max_attempts": 3}
    assert (settings.service_name, settings.metrics_namespace) == ("asg-namer", "AsgNamer")
    assert settings.region == "eu-west-1"


def test_empty_environment_works_without_a_region() -> None:
    # GIVEN no variables at all / WHEN loaded / THEN defaults, and no region
    assert load_settings({}).region is None


def test_default_region_is_the_fallback() -> None:
    # GIVEN only AWS_DEFAULT_REGION / WHEN loaded / THEN it is the region
    assert load_settings({"AWS_DEFAULT_REGION": "ap-south-1"}).region == "ap-south-1"


def test_every_variable_is_read() -> None:
    # GIVEN a value for every variable
    env = {
        "NAME_TEMPLATE": "{asg}-{ip4}",
        "NAME_TAG_KEY": "Hostname",
        "FAILURE_RESULT": "continue",
        "TAG_ATTACHED": "YES",
        "MAX_WORKERS": "64",
        "TIME_MARGIN_SECONDS": "2.5",
        "GONE_AFTER_SECONDS": "600",
        "IP_WAIT_MAX_SECONDS": "0",
        "AWS_RETRY_MODE": "Standard",
        "AWS_MAX_ATTEMPTS": "20",
        "POWERTOOLS_SERVICE_NAME": "namer",
        "POWERTOOLS_METRICS_NAMESPACE": "Platform/Namer",
        "AWS_REGION": "us-west-2",
    }
    # WHEN loaded
    settings = load_settings(env)
    # THEN each value lands, normalised
    assert settings == Settings(
        name_template=settings.name_template,
        name_tag_key="Hostname",
        failure_result="CONTINUE",
        tag_attached=True,
        max_workers=64,
        time_margin_seconds=2.5,
        gone_after_seconds=600,
        ip_wait_max_seconds=0,
        retry_mode="standard",
        max_attempts=20,
        service_name="namer",
        metrics_namespace="Platform/Namer",
        region="us-west-2",
    )
    facts = InstanceFacts("i-12345678", "10.1.2.3", {}, "us-west-2a", "web", "us-west-2")
    assert settings.name_template.render(facts) == "web-3"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("false", False), ("No", False), ("0", False)],
)
def test_tag_attached_spellings(raw: str, expected: bool) -> None:
    # GIVEN a boolean spelling / WHEN loaded / THEN it reads as expected
    assert load_settings({"TAG_ATTACHED": raw}).tag_attached is expected


def test_empty_values_take_the_default() -> None:
    # GIVEN variables set to the empty string (as templates often leave them)
    env = {v.name: "" for v in VARIABLES}
    # WHEN loaded / THEN the defaults apply
    assert load_settings(env) == load_settings({})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FAILURE_RESULT", "MAYBE", "FAILURE_RESULT='MAYBE' must be ABANDON or CONTINUE"),
        ("MAX_WORKERS", "0", "MAX_WORKERS='0' must be an integer 1..64"),
        ("MAX_WORKERS", "65", "MAX_WORKERS='65' must be an integer 1..64"),
        ("MAX_WORKERS", "8.0", "must be an integer 1..64"),
        ("MAX_WORKERS", "-1", "must be an integer 1..64"),
        ("MAX_WORKERS", "9" * 5000, "must be an integer 1..64"),
        ("TAG_ATTACHED", "maybe", "TAG_ATTACHED='maybe' must be true or false"),
        ("TIME_MARGIN_SECONDS", "0.5", "TIME_MARGIN_SECONDS='0.5' must be a number of seconds >= 1"),
        ("TIME_MARGIN_SECONDS", "nan", "must be a number of seconds >= 1"),
        ("GONE_AFTER_SECONDS", "inf", "must be a number of seconds >= 1"),
        ("GONE_AFTER_SECONDS", "5m", "must be a number of seconds >= 1"),
        ("IP_WAIT_MAX_SECONDS", "-1", "must be a number of seconds >= 0"),
        ("AWS_RETRY_MODE", "fast", "AWS_RETRY_MODE='fast' must be standard, adaptive or legacy"),
        ("AWS_MAX_ATTEMPTS", "21", "AWS_MAX_ATTEMPTS='21' must be an integer 1..20"),
        ("NAME_TEMPLATE", "{nope}", "NAME_TEMPLATE='{nope}' is not a valid name template: at index 0: unknown"),
        ("NAME_TEMPLATE", "a#{ip}", "at index 1: character '#'"),
        ("NAME_TAG_KEY", "aws:name", "must not start with 'aws:'"),
        ("NAME_TAG_KEY", "AWS:Name", "must not start with 'aws:'"),
        ("NAME_TAG_KEY", "k" * 129, "must be a tag key of 1..128 characters, not 129"),
        ("NAME_TAG_KEY", "Na*me", "has character '*'"),
    ],
)
def test_each_bad_variable_is_named_with_its_rule(name: str, value: str, expected: str) -> None:
    # GIVEN one bad variable / WHEN loaded
    error = config_error({name: value})
    # THEN the single problem names the variable, its value and the rule
    assert len(error.problems) == 1
    assert error.problems[0].startswith(f"{name}=")
    assert expected in str(error)


def test_all_bad_variables_are_reported_at_once() -> None:
    # GIVEN several bad variables
    env = {**LAMBDA_ENV, "FAILURE_RESULT": "MAYBE", "MAX_WORKERS": "0", "AWS_RETRY_MODE": "x"}
    # WHEN loaded
    error = config_error(env)
    # THEN one ConfigError lists each of them, in a single message
    assert isinstance(error, ValueError)
    assert str(error) == (
        "invalid configuration: FAILURE_RESULT='MAYBE' must be ABANDON or CONTINUE; "
        "MAX_WORKERS='0' must be an integer 1..64; "
        "AWS_RETRY_MODE='x' must be standard, adaptive or legacy"
    )


def test_long_bad_values_are_shortened() -> None:
    # GIVEN a huge bad value / WHEN loaded / THEN the message stays readable
    assert len(str(config_error({"FAILURE_RESULT": "x" * 10_000}))) < 200


def test_settings_are_frozen() -> None:
    # GIVEN loaded settings / WHEN changed / THEN refused: settings are read once
    settings = load_settings({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_workers = 1  # type: ignore[misc]
