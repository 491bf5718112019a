"""The fault suite's small seeded configuration: every fault, two tagged groups of six, a slot group, a fast clock.

The full run goes through the operator's command (``asg-namer chaos``) in a process of its own: its account
holds only the suite's groups, as a fresh sandbox does (the session's sandbox holds every earlier test's groups,
and the scheduled sweep reads the launch hooks of every group of the Region).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chaos import FAULTS, INVARIANTS, ChaosConfig, run_chaos
from cli.main import main as cli_main
from sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]

# Every test here starts and ends with the session sandbox's faults off.
pytestmark = pytest.mark.usefixtures("controls")


def test_small_seeded_configuration_loses_nothing_and_names_everything(tmp_path: Path) -> None:
    # GIVEN every fault of the suite on two tagged groups, a slot group, an untagged group and a short-heartbeat
    # group (the defaults of `asg-namer chaos`, seed 7)
    results = tmp_path / "chaos.json"
    # WHEN the operator's command runs them until quiescent
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "chaos", "--seed", "7", "--timeout", "150", "--json", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    # THEN it exits 0: quiescent, and no invariant was violated
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(results.read_text())
    assert report["violations"] == 0 and report["quiescent"], done.stdout
    assert set(report["invariants"]) == set(INVARIANTS)
    assert all(entry["checked"] > 0 for entry in report["invariants"].values())
    # AND the outcomes are the expected numbers
    groups = {g["name"]: g for g in report["groups"]}
    assert groups["tagged-1"]["in_service_named"] == 6
    assert groups["tagged-2"]["in_service_named"] == 6
    assert groups["slots"]["in_service_named"] == 6
    assert groups["untagged"]["released_unnamed"] == 2  # capacity arrived: the breaker opened
    assert 3 <= groups["untagged"]["abandoned_with_reason"] <= 4  # ABANDON_BREAKER, + 1 decided meanwhile
    assert groups["short-hb"]["timed_out"] == 1  # the instance whose IP never came: DefaultResult
    assert groups["short-hb"]["removed"] == 1  # the instance terminated through EC2 while waiting
    assert groups["short-hb"]["in_service_named"] == 2  # their replacements
    assert all(g["other"] == 0 for g in groups.values())
    # AND the faults really happened, the lost messages' instances among them: only the sweep could name those
    injected = report["faults_injected"]
    assert injected["poison messages"] == 3
    assert injected["duplicate deliveries sent"] == 3
    assert injected["hook messages lost"] == groups["tagged-1"]["lost"] + groups["slots"]["lost"] == 4
    assert injected["invocations killed (timeout)"] >= 1
    assert injected["broken deploy: failed inits"] >= 1
    assert injected["invocations by outcome"].get("init_error", 0) >= 1
    assert sum(injected["injected errors"].values()) > 0
    assert injected["private IP hidden (answers)"] > 0
    named, released = (int(n) for n in injected["sweeps: named, released"].split(", "))
    assert injected["scheduled sweeps"] > 0 and released >= 1 and named >= 1


def test_the_report_lists_every_fault_and_serialises(sandbox: Sandbox) -> None:
    # GIVEN a tiny run with only two faults, in the session's sandbox
    scale_before = sandbox.clock.scale
    config = ChaosConfig(
        seed=3,
        groups=1,
        instances=2,
        untagged_instances=0,
        never_ip_instances=0,
        terminated_instances=0,
        slot_instances=0,
        faults=("poison", "duplicates"),
        poison=1,
        duplicates=1,
        timeout=240.0,  # bounds a failing run only
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
    # AND the run deleted its groups and gave the shared sandbox its clock back
    pages = sandbox.client("autoscaling").get_paginator("describe_auto_scaling_groups").paginate()
    names = [g["AutoScalingGroupName"] for page in pages for g in page["AutoScalingGroups"]]
    assert not any(name.startswith("chaos-") and name.endswith("-tagged-1") for name in names)
    assert sandbox.clock.scale == scale_before


def test_unknown_faults_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a fault name that does not exist
    # WHEN the CLI is asked for it
    code = cli_main(["chaos", "--faults", "throttling,gremlins"])
    # THEN it exits 2 and names the known faults
    assert code == 2
    err = capsys.readouterr().err
    assert "gremlins" in err
    assert all(f.name in err for f in FAULTS)
