"""Shared fixtures: one embedded local AWS per test session, reached over real HTTP.

The sandbox is imported inside the fixtures, so the unit tests (which never ask for it) run without moto.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sandbox.faults import FaultControls
    from sandbox.server import Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """moto's state is process-wide, so the session shares one sandbox; tests use unique names."""
    from sandbox.lambda_runtime import environment  # noqa: PLC0415
    from sandbox.server import Sandbox  # noqa: PLC0415

    with Sandbox() as running, environment(running.env()):
        yield running


@pytest.fixture
def controls(sandbox: Sandbox) -> Iterator[FaultControls]:
    """The session sandbox's realism and fault controls, all off before and after the test."""
    sandbox.controls.reset()
    yield sandbox.controls
    sandbox.controls.reset()


@pytest.fixture
def unique() -> str:
    """A short suffix that keeps names of one test apart from every other test's."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(autouse=True)
def no_live_instances_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """The session shares one account, and names must be unique among live instances: after every test that
    used the sandbox, its groups are scaled in and its instances terminated, so the next test starts from an
    empty fleet. (Unit tests never ask for the sandbox: nothing to do, and no moto imported.)"""
    yield
    if "sandbox" not in request.fixturenames:
        return
    sandbox: Sandbox = request.getfixturevalue("sandbox")
    sandbox.controls.reset()  # a test's throttling must not fail its cleanup
    autoscaling, ec2 = sandbox.client("autoscaling"), sandbox.client("ec2")
    for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
        for group in page["AutoScalingGroups"]:
            if group["DesiredCapacity"] or group["Instances"]:
                autoscaling.update_auto_scaling_group(
                    AutoScalingGroupName=group["AutoScalingGroupName"], MinSize=0, DesiredCapacity=0
                )
    live = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    )
    ids = [i["InstanceId"] for r in live["Reservations"] for i in r["Instances"]]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
