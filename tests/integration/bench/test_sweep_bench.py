"""The sweep scenario on a small fleet: the scheduled invocation's calls against issue 12's budget."""

from __future__ import annotations

from typing import Any

import pytest

from bench.config import BenchConfig, SweepConfig
from bench.sweep import run_sweep
from sandbox import Sandbox

SMALL = BenchConfig(latency_ms=0, sweep=SweepConfig(groups=3, per_group=4, unnamed_share=0.25))


@pytest.fixture(scope="module")
def swept(sandbox: Sandbox) -> dict[str, Any]:
    """GIVEN 3 served groups of 4 InService instances, 3 of them unnamed, hooks attached after the launch
    WHEN the function is invoked twice with the scheduled event."""
    sandbox.controls.reset()
    try:
        return run_sweep(sandbox, SMALL)
    finally:
        sandbox.controls.reset()


def test_the_first_sweep_names_exactly_the_unnamed_within_its_budget(swept: dict[str, Any]) -> None:
    first = swept["first"]
    assert (swept["groups"], swept["instances"], swept["unnamed"]) == (3, 12, 3)
    # THEN it named the three and nothing else, and did not stop early
    assert (first["named_the_unnamed"], first["named_others"]) == (3, 0)
    assert first["summary"]["named"] == 3 and not first["summary"]["stopped_early"]
    # AND every kind of call stayed within its limit: one page, a hook read per group, one describe of the
    # fleet's facts, one collision check, three writes
    used = {row["calls"]: (row["used"], row["limit"]) for row in first["budget"]}
    assert all(row["ok"] for row in first["budget"]), first["budget"]
    assert used["DescribeAutoScalingGroups pages"] == (1, 1)
    assert used["DescribeLifecycleHooks"] == (3, 3)
    assert used["DescribeInstances (facts)"] == (1, 1)
    assert used["DescribeInstances (collision check)"] == (1, 1)
    assert used["writes (CreateTags, DeleteTags, CompleteLifecycleAction)"] == (3, 3)


def test_the_next_sweep_writes_nothing_and_reads_hooks_from_its_cache(swept: dict[str, Any]) -> None:
    second = swept["second"]
    assert second["summary"]["named"] == 0
    assert "CreateTags" not in second["calls"] and "DescribeLifecycleHooks" not in second["calls"]
    assert all(row["ok"] for row in second["budget"]), second["budget"]


def test_the_sweep_time_is_split_between_calls_and_the_function_itself(swept: dict[str, Any]) -> None:
    for invocation in (swept["first"], swept["second"]):
        assert invocation["seconds"] > 0
        assert invocation["in_calls_seconds"] + invocation["outside_calls_seconds"] == pytest.approx(
            invocation["seconds"], abs=0.01
        )
        assert sum(invocation["in_calls_seconds_by_action"].values()) == pytest.approx(
            invocation["in_calls_seconds"], abs=0.01
        )
