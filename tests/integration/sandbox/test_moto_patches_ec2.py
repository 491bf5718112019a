"""The EC2 patches of sandbox.moto_patches (faults helper's section), one test per patched behaviour.

Late private IPs and eventual consistency are decided by instance age on the sandbox clock; the tests
that wait for an instance to "grow up" run the session clock fast for their duration.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, TypeVar

import botocore.exceptions
import pytest
from botocore.config import Config

from sandbox import ACCOUNT_ID, Sandbox, moto_patches
from sandbox.clock import SandboxClock
from sandbox.faults import FaultControls
from tests.support.waiting import wait_for

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
AMI = "ami-12c6146b"
FAST = 50.0  # sandbox seconds per real second while an instance has to age
T = TypeVar("T")


@pytest.fixture
def fast_clock(sandbox: Sandbox) -> Iterator[SandboxClock]:
    previous = sandbox.clock.scale
    sandbox.clock.set_scale(FAST)
    yield sandbox.clock
    sandbox.clock.set_scale(previous)


@pytest.fixture
def ec2(sandbox: Sandbox) -> Any:
    return sandbox.client("ec2", config=NO_RETRY)


def launch(ec2: Any, count: int = 1) -> list[dict[str, Any]]:
    """One reservation of ``count`` instances, as RunInstances returns them."""
    return list(ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count)["Instances"])


def described(ec2: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {i["InstanceId"]: i for r in ec2.describe_instances(**kwargs)["Reservations"] for i in r["Instances"]}


def eventually(check: Callable[[], T]) -> T:
    """``check``'s value once it stops failing (AssertionError or an AWS error)."""
    return wait_for(check, retrying_on=(AssertionError, botocore.exceptions.ClientError))


def not_found(exc_info: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, str, int]:
    response = exc_info.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


# --- Instance.__init__: launch time on the sandbox clock ------------------------------------------------


def test_new_instances_carry_their_launch_time_on_the_sandbox_clock(sandbox: Sandbox, ec2: Any) -> None:
    from moto.ec2.models import ec2_backends  # noqa: PLC0415 - reaching into moto is the point here

    # WHEN an instance is launched
    before = sandbox.clock.now()
    instance_id = launch(ec2)[0]["InstanceId"]
    after = sandbox.clock.now()

    # THEN moto's instance is stamped with the sandbox time of its launch
    instance = ec2_backends[ACCOUNT_ID]["us-east-1"].get_instance(instance_id)
    assert before <= getattr(instance, moto_patches._LAUNCHED_AT) <= after
    assert moto_patches._launched_at(instance, sandbox.clock) == getattr(instance, moto_patches._LAUNCHED_AT)


def test_unstamped_instances_fall_back_to_motos_launch_time_scaled() -> None:
    # GIVEN an instance moto launched 10 real seconds ago, before any stamp, and a double-speed clock
    clock = SandboxClock(scale=2.0)
    launched = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(seconds=10)
    instance = SimpleNamespace(launch_time=launched)

    # THEN it is 20 sandbox seconds old
    assert clock.now() - moto_patches._launched_at(instance, clock) == pytest.approx(20.0, abs=0.5)


# --- DescribeInstances: private IP assigned late ---------------------------------------------------------


def test_private_ip_is_hidden_while_the_instance_is_young_then_shown(
    controls: FaultControls, fast_clock: SandboxClock, ec2: Any
) -> None:
    # GIVEN an instance launched just now, and private IPs that arrive 100 sandbox seconds after launch
    launched = launch(ec2)[0]
    instance_id = launched["InstanceId"]
    controls.set_private_ip_delay(100, instance_ids={instance_id})

    # WHEN it is described at once
    young = described(ec2, InstanceIds=[instance_id])[instance_id]

    # THEN it has no private IP or DNS name anywhere, but is otherwise complete
    assert "PrivateIpAddress" not in young
    assert "PrivateDnsName" not in young
    eni = young["NetworkInterfaces"][0]
    assert not {"PrivateIpAddress", "PrivateDnsName", "PrivateIpAddresses"} & set(eni)
    assert eni["NetworkInterfaceId"] == launched["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert young["State"]["Name"] == "running"
    assert controls.stats()["ec2"]["private_ip_hidden"] >= 1

    # AND once it is old enough, it shows the IP it was launched with
    def has_ip() -> dict[str, Any]:
        instance = described(ec2, InstanceIds=[instance_id])[instance_id]
        assert "PrivateIpAddress" in instance
        return instance

    grown = eventually(has_ip)
    assert grown["PrivateIpAddress"] == launched["PrivateIpAddress"]
    assert grown["NetworkInterfaces"][0]["PrivateIpAddress"] == launched["PrivateIpAddress"]
    assert grown["PrivateDnsName"]


def test_private_ip_delay_can_pick_instances_with_a_predicate(controls: FaultControls, ec2: Any) -> None:
    # GIVEN two instances of one reservation, and a delay only for the first
    first, second = (i["InstanceId"] for i in launch(ec2, count=2))
    controls.set_private_ip_delay(3600, predicate=lambda instance_id: instance_id == first)

    # WHEN both are described
    instances = described(ec2, InstanceIds=[first, second])

    # THEN only the first lacks its private IP
    assert "PrivateIpAddress" not in instances[first]
    assert instances[second]["PrivateIpAddress"]


# --- DescribeInstances: eventual consistency -------------------------------------------------------------


def test_young_instance_asked_for_by_id_is_not_found_then_found(
    controls: FaultControls, fast_clock: SandboxClock, ec2: Any
) -> None:
    # GIVEN an instance that EC2 will not know about for 100 sandbox seconds
    instance_id = launch(ec2)[0]["InstanceId"]
    controls.set_eventual_consistency(100, instance_ids={instance_id})

    # WHEN it is described by id at once
    with pytest.raises(botocore.exceptions.ClientError) as exc_info:
        ec2.describe_instances(InstanceIds=[instance_id])

    # THEN it does not exist yet, in EC2's words
    assert not_found(exc_info) == (
        "InvalidInstanceID.NotFound",
        f"The instance ID '{instance_id}' does not exist",
        400,
    )
    assert controls.stats()["ec2"]["not_found"] == 1
    # AND later it does
    assert instance_id in eventually(lambda: described(ec2, InstanceIds=[instance_id]))


def test_young_instance_is_left_out_of_unfiltered_and_filtered_describes(controls: FaultControls, ec2: Any) -> None:
    # GIVEN two instances of one reservation, the second not yet visible
    first, second = (i["InstanceId"] for i in launch(ec2, count=2))
    controls.set_eventual_consistency(3600, instance_ids={second})

    # WHEN instances are listed without and with a filter
    unfiltered = described(ec2)
    filtered = described(ec2, Filters=[{"Name": "instance-state-name", "Values": ["running"]}])

    # THEN the young one is simply missing from both, its sibling is there
    assert first in unfiltered and second not in unfiltered
    assert first in filtered and second not in filtered
    assert controls.stats()["ec2"]["omitted"] == 2


# --- CreateTags: eventual consistency --------------------------------------------------------------------


def test_create_tags_on_young_instance_is_not_found_then_succeeds(
    controls: FaultControls, fast_clock: SandboxClock, ec2: Any, unique: str
) -> None:
    # GIVEN an instance that EC2 will not know about for 100 sandbox seconds
    instance_id = launch(ec2)[0]["InstanceId"]
    controls.set_eventual_consistency(100, instance_ids={instance_id})
    tags = [{"Key": "Name", "Value": f"web-{unique}"}]

    # WHEN it is tagged at once
    with pytest.raises(botocore.exceptions.ClientError) as exc_info:
        ec2.create_tags(Resources=[instance_id], Tags=tags)

    # THEN EC2 says it does not exist, and nothing was tagged
    assert not_found(exc_info)[0] == "InvalidInstanceID.NotFound"
    assert not ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]}])["Tags"]

    # AND tagging works once it has become visible
    eventually(lambda: ec2.create_tags(Resources=[instance_id], Tags=tags))
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]}])["Tags"]
    assert [(t["Key"], t["Value"]) for t in found] == [("Name", f"web-{unique}")]


# --- the wiring -----------------------------------------------------------------------------------------


def test_patches_apply_once_however_often_installed(sandbox: Sandbox) -> None:
    from moto.ec2.responses.instances import InstanceResponse  # noqa: PLC0415

    # WHEN the EC2 patches are installed again
    moto_patches._patch_ec2_realism()

    # THEN describe_instances is still wrapped exactly once
    layers, method = 0, InstanceResponse.describe_instances
    while method is not None:
        layers += getattr(method, "_sandbox_patch", None) == moto_patches._EC2_PATCH
        method = getattr(method, "__wrapped__", None)
    assert layers == 1
