"""Every operator command documents itself with an example and rejects bad usage with exit 2."""

from __future__ import annotations

import pytest

COMMANDS = ("attach", "preview", "backfill", "redrive", "status")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_an_example(cli, command):
    result = cli(command, "--help")
    assert result.code == 0
    assert f"asg-namer {command} --" in result.out.split("example", 1)[1]
    assert "--region" in result.out and "--profile" in result.out


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_options_are_usage_errors(cli, command):
    assert cli(command, "--no-such-option").code == 2


def test_no_region_is_a_usage_error(cli, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    result = cli("status", "--asg", "anything")
    assert result.code == 2 and "--region" in result.err
