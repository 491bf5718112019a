"""The fault suite's small seeded configuration: every fault, two tagged groups of six, a fast clock."""

from __future__ import annotations

import json

import pytest

from chaos import FAULTS, INVARIANTS, ChaosConfig, run_chaos
from cli.main import main as cli_main
from sandbox import Sandbox

# Every test here starts and ends with the session sandbox's faults off.
pytestmark = pytest.mark.usefixtures("controls")

SMALL = ChaosConfig(
    seed=7,
    groups=2,
    instances=6,
    untagged_instances=2,
    never_ip_instances=1,
    terminated_instances=1,
    poison=3,
    duplicates=3,
    timeout=90.0,
)


def test_small_seeded_configuration_loses_nothing_and_names_everything(sandbox: Sandbox) -> None:
    # GIVEN every fault of the suite, on two tagged groups, an untagged group and a short-heartbeat group
    scale_before = sandbox.clock.scale
    # WHEN the run scales them out and waits until quiescent
    report = run_chaos(SMALL, sandbox)
    # THEN it became quiescent and no invariant was violated
    details = {i.name: i.violations for i in report.invariants if i.violations}
    assert report.quiescent, report.table()
    assert report.violations == 0, details
    assert {i.name for i in report.invariants} == set(INVARIANTS)
    assert all(i.checked > 0 for i in report.invariants)
    # AND the outcomes are the expected numbers
    groups = {g.name: g for g in report.groups}
    assert groups["tagged-1"].in_service_named == 6
    assert groups["tagged-2"].in_service_named == 6
    assert groups["untagged"].in_service_named == 0
    assert groups["untagged"].abandoned_with_reason >= 2
    assert groups["short-hb"].timed_out == 1  # the instance whose IP never came: DefaultResult
    assert groups["short-hb"].removed == 1  # the instance terminated through EC2 while waiting
    assert groups["short-hb"].in_service_named == 2  # their replacements
    assert all(g.other == 0 for g in report.groups)
    # AND the faults really happened
    injected = report.injected
    assert injected["poison messages"] == 3
    assert injected["duplicate deliveries sent"] == 3
    assert injected["invocations killed (timeout)"] >= 1
    assert injected["broken deploy: failed inits"] >= 1
    assert injected["invocations by outcome"].get("init_error", 0) >= 1
    assert sum(injected["injected errors"].values()) > 0
    assert injected["private IP hidden (answers)"] > 0
    # AND the shared sandbox got its clock back
    assert sandbox.clock.scale == scale_before


def test_the_report_lists_every_fault_and_serialises(sandbox: Sandbox) -> None:
    # GIVEN a tiny run with only two faults
    config = ChaosConfig(
        seed=3,
        groups=1,
        instances=2,
        untagged_instances=0,
        never_ip_instances=0,
        terminated_instances=0,
        faults=("poison", "duplicates"),
        poison=1,
        duplicates=1,
        timeout=60.0,
    )
    # WHEN it runs
    report = run_chaos(config, sandbox)
    # THEN the JSON form carries the violations count and one entry per invariant
    payload = json.loads(json.dumps(report.to_json(), default=str))
    assert payload["violations"] == 0, report.table()
    assert set(payload["invariants"]) == set(INVARIANTS)
    assert all(entry["violations"] == 0 for entry in payload["invariants"].values())
    assert [g["name"] for g in payload["groups"]] == ["tagged-1"]
    assert "Violations: 0" in report.table()


def test_unknown_faults_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a fault name that does not exist
    # WHEN the CLI is asked for it
    code = cli_main(["chaos", "--faults", "throttling,gremlins"])
    # THEN it exits 2 and names the known faults
    assert code == 2
    err = capsys.readouterr().err
    assert "gremlins" in err
    assert all(f.name in err for f in FAULTS)
