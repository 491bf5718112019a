"""The sandbox's instance metadata service (sandbox.imds) over HTTP, as a program on the instance sees it.

Expectations come from docs/hostnames.md (IMDSv2 tokens, tags in instance metadata and their key rules).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import Sandbox
from sandbox.imds import ImdsRequest
from tests.support.imds import (
    TOKEN_HEADER,
    TTL_HEADER,
    eventually,
    launch_instance,
    launch_template,
    request,
    tag,
    token,
)


@pytest.fixture
def restore_clock(sandbox: Sandbox) -> Iterator[None]:
    previous = sandbox.clock.scale
    yield
    sandbox.clock.set_scale(previous)


def get(sandbox: Sandbox, instance_id: str, path: str, token_value: str | None = None) -> tuple[int, str]:
    headers = {TOKEN_HEADER: token_value} if token_value is not None else {}
    reply = request(sandbox.imds_endpoint(instance_id) + path, headers=headers)
    return reply.status, reply.body


# ------------------------------------------------------------------------------------------------ tokens
def test_a_token_reads_the_instance_id_and_private_ip(sandbox: Sandbox) -> None:
    # GIVEN an instance that requires IMDSv2
    instance_id = launch_instance(sandbox)
    described = sandbox.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    # WHEN it asks for a token
    reply = request(f"{sandbox.imds_endpoint(instance_id)}/latest/api/token", "PUT", {TTL_HEADER: "300"})
    # THEN it gets one, with the TTL echoed, and reads its own id and private IP with it
    assert reply.status == 200 and reply.body
    assert reply.headers[TTL_HEADER] == "300"
    assert get(sandbox, instance_id, "/latest/meta-data/instance-id", reply.body) == (200, instance_id)
    assert get(sandbox, instance_id, "/latest/meta-data/local-ipv4", reply.body) == (
        200,
        described["PrivateIpAddress"],
    )


@pytest.mark.parametrize("ttl", [None, "0", "21601", "-5", "ten", ""])
def test_a_token_request_without_a_ttl_of_1_to_21600_is_a_bad_request(sandbox: Sandbox, ttl: str | None) -> None:
    instance_id = launch_instance(sandbox)
    headers = {} if ttl is None else {TTL_HEADER: ttl}
    # WHEN the TTL header is missing or out of range THEN 400
    reply = request(f"{sandbox.imds_endpoint(instance_id)}/latest/api/token", "PUT", headers)
    assert reply.status == 400


@pytest.mark.parametrize("ttl", ["1", "21600"])
def test_the_ttl_bounds_are_accepted(sandbox: Sandbox, ttl: str) -> None:
    instance_id = launch_instance(sandbox)
    reply = request(f"{sandbox.imds_endpoint(instance_id)}/latest/api/token", "PUT", {TTL_HEADER: ttl})
    assert reply.status == 200 and reply.headers[TTL_HEADER] == ttl


def test_a_token_is_only_issued_by_put(sandbox: Sandbox) -> None:
    instance_id = launch_instance(sandbox)
    assert request(f"{sandbox.imds_endpoint(instance_id)}/latest/api/token", "GET", {TTL_HEADER: "60"}).status == 405


def test_with_tokens_required_a_get_without_a_valid_token_is_unauthorised(sandbox: Sandbox) -> None:
    # GIVEN two instances that require IMDSv2
    instance_id, other = launch_instance(sandbox), launch_instance(sandbox)
    # THEN no token (an IMDSv1 call), an unknown token and another instance's token are all refused
    assert get(sandbox, instance_id, "/latest/meta-data/instance-id")[0] == 401
    assert get(sandbox, instance_id, "/latest/meta-data/instance-id", "not-a-token")[0] == 401
    assert get(sandbox, instance_id, "/latest/meta-data/instance-id", token(sandbox.imds_endpoint(other)))[0] == 401


def test_with_tokens_optional_an_imdsv1_get_is_served_but_a_bad_token_is_not(sandbox: Sandbox) -> None:
    instance_id = launch_instance(sandbox, http_tokens="optional")
    assert get(sandbox, instance_id, "/latest/meta-data/instance-id") == (200, instance_id)
    assert get(sandbox, instance_id, "/latest/meta-data/instance-id", "not-a-token")[0] == 401


def test_a_token_expires_on_the_sandbox_clock(sandbox: Sandbox, restore_clock: None) -> None:
    # GIVEN a token valid for 60 sandbox seconds, good now
    instance_id = launch_instance(sandbox)
    value = token(sandbox.imds_endpoint(instance_id), ttl=60)
    assert get(sandbox, instance_id, "/latest/meta-data/instance-id", value)[0] == 200
    # WHEN sandbox time runs fast (60 s pass in well under a real second)
    sandbox.clock.set_scale(600.0)
    # THEN the token is refused once its 60 sandbox seconds are over, and a new one works
    eventually(lambda: get(sandbox, instance_id, "/latest/meta-data/instance-id", value)[0] == 401)
    sandbox.clock.set_scale(1.0)
    assert (
        get(sandbox, instance_id, "/latest/meta-data/instance-id", token(sandbox.imds_endpoint(instance_id)))[0] == 200
    )


def test_expiring_an_instances_tokens_ends_only_those(sandbox: Sandbox) -> None:
    # GIVEN two instances with a token each
    instance_id, other = launch_instance(sandbox), launch_instance(sandbox)
    mine, theirs = token(sandbox.imds_endpoint(instance_id)), token(sandbox.imds_endpoint(other))
    # WHEN the first instance's tokens are expired
    assert sandbox.imds.expire_tokens(instance_id) == 1
    # THEN its token is refused, the other's still works, and a new token works
    assert get(sandbox, instance_id, "/latest/meta-data/instance-id", mine)[0] == 401
    assert get(sandbox, other, "/latest/meta-data/instance-id", theirs) == (200, other)
    assert (
        get(sandbox, instance_id, "/latest/meta-data/instance-id", token(sandbox.imds_endpoint(instance_id)))[0] == 200
    )


# -------------------------------------------------------------------------------------------------- tags
def test_tags_are_listed_one_key_a_line_and_read_by_key(sandbox: Sandbox) -> None:
    # GIVEN tags in instance metadata enabled and tags IMDS can and cannot serve
    instance_id = launch_instance(
        sandbox,
        tags={"Name": "web-12-34", "App": "store", "Cost Center": "cc-1", "team/owner": "ops", "_index": "x"},
    )
    value = token(sandbox.imds_endpoint(instance_id))
    # WHEN the keys are listed
    status, listing = get(sandbox, instance_id, "/latest/meta-data/tags/instance/", value)
    # THEN every key with letters, digits and + - = . , _ : @ only is there; keys with a space or '/' are not
    assert status == 200
    keys = listing.split("\n")
    assert {"Name", "App"} <= set(keys)
    assert "Cost Center" not in keys and "team/owner" not in keys and "_index" not in keys
    assert keys == sorted(keys)
    assert get(sandbox, instance_id, "/latest/meta-data/tags/instance", value) == (200, listing)
    # AND a value is read by its key; an unknown or unservable key is 404
    assert get(sandbox, instance_id, "/latest/meta-data/tags/instance/Name", value) == (200, "web-12-34")
    assert get(sandbox, instance_id, "/latest/meta-data/tags/instance/Missing", value)[0] == 404
    assert get(sandbox, instance_id, "/latest/meta-data/tags/instance/Cost%20Center", value)[0] == 404
    assert get(sandbox, instance_id, "/latest/meta-data/tags/instance/team%2Fowner", value)[0] == 404
    # AND the meta-data listing offers tags/
    assert get(sandbox, instance_id, "/latest/meta-data/", value) == (200, "instance-id\nlocal-ipv4\ntags/")


def test_a_tag_written_after_launch_is_served_at_once(sandbox: Sandbox) -> None:
    instance_id = launch_instance(sandbox)
    value = token(sandbox.imds_endpoint(instance_id))
    assert get(sandbox, instance_id, "/latest/meta-data/tags/instance/Name", value)[0] == 404
    tag(sandbox, instance_id, {"Name": "web-1-2"})
    assert get(sandbox, instance_id, "/latest/meta-data/tags/instance/Name", value) == (200, "web-1-2")


def test_with_tags_disabled_the_tag_paths_are_404_as_an_html_page(sandbox: Sandbox) -> None:
    # GIVEN a launch template with InstanceMetadataTags disabled, and a Name tag on the instance
    instance_id = launch_instance(sandbox, tags_in_metadata="disabled", tags={"Name": "web-1-2"})
    value = token(sandbox.imds_endpoint(instance_id))
    # THEN the listing and the key both answer 404 (a page, never something that looks like a value)
    for path in ("/latest/meta-data/tags/instance/", "/latest/meta-data/tags/instance/Name"):
        reply = request(sandbox.imds_endpoint(instance_id) + path, headers={TOKEN_HEADER: value})
        assert reply.status == 404
        assert reply.headers["Content-Type"] == "text/html" and "404 - Not Found" in reply.body
    # AND the meta-data listing does not offer tags/
    assert get(sandbox, instance_id, "/latest/meta-data/", value) == (200, "instance-id\nlocal-ipv4")


def test_an_instance_without_metadata_options_has_tags_off_and_tokens_optional(sandbox: Sandbox) -> None:
    # GIVEN an instance launched with no MetadataOptions at all (AWS's defaults)
    ec2 = sandbox.client("ec2")
    instance_id = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tag(sandbox, instance_id, {"Name": "web-1-2"})
    # THEN IMDSv1 is served and tags are not
    assert get(sandbox, instance_id, "/latest/meta-data/instance-id") == (200, instance_id)
    assert get(sandbox, instance_id, "/latest/meta-data/tags/instance/Name")[0] == 404
    # WHEN tags are allowed on the running instance THEN they are served
    ec2.modify_instance_metadata_options(InstanceId=instance_id, InstanceMetadataTags="enabled")
    assert get(sandbox, instance_id, "/latest/meta-data/tags/instance/Name") == (200, "web-1-2")


def test_a_group_instance_follows_the_group_launch_template(sandbox: Sandbox, unique: str) -> None:
    # GIVEN a group whose launch template requires IMDSv2 and enables tags, with a propagated tag
    ec2, autoscaling = sandbox.client("ec2"), sandbox.client("autoscaling")
    vpc_id = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    group = f"imds-{unique}"
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateName": launch_template(sandbox), "Version": "$Latest"},
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=1,
        VPCZoneIdentifier=subnet_id,
        Tags=[{"Key": "App", "Value": "store", "PropagateAtLaunch": True, "ResourceId": group}],
    )
    (instance,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0][
        "Instances"
    ]
    instance_id = instance["InstanceId"]
    # THEN its metadata follows the template: IMDSv1 refused, tags served
    assert get(sandbox, instance_id, "/latest/meta-data/instance-id")[0] == 401
    value = token(sandbox.imds_endpoint(instance_id))
    assert get(sandbox, instance_id, "/latest/meta-data/tags/instance/App", value) == (200, "store")
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)


# ------------------------------------------------------------------------------------- addressing, journal
def test_unknown_and_terminated_instances_have_no_metadata(sandbox: Sandbox) -> None:
    assert (
        request(f"{sandbox.imds_endpoint('i-00000000000000000')}/latest/api/token", "PUT", {TTL_HEADER: "60"}).status
        == 404
    )
    instance_id = launch_instance(sandbox)
    sandbox.client("ec2").terminate_instances(InstanceIds=[instance_id])
    assert request(f"{sandbox.imds_endpoint(instance_id)}/latest/api/token", "PUT", {TTL_HEADER: "60"}).status == 404


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://attacker.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Host": "attacker.example:80"}],
    ids=["origin", "sec-fetch-site", "rebound-host"],
)
def test_a_web_page_cannot_reach_instance_metadata(sandbox: Sandbox, headers: dict[str, str]) -> None:
    # GIVEN an instance that allows IMDSv1 (the easiest to abuse)
    instance_id = launch_instance(sandbox, http_tokens="optional")
    # WHEN a browser's request, or one addressed to another name, asks for a token or a value
    put = request(f"{sandbox.imds_endpoint(instance_id)}/latest/api/token", "PUT", {TTL_HEADER: "60", **headers})
    reply = request(f"{sandbox.imds_endpoint(instance_id)}/latest/meta-data/instance-id", headers=headers)
    # THEN the sandbox's front door refuses both, as it does for the AWS API
    assert (put.status, reply.status) == (403, 403)
    assert instance_id not in reply.body


def test_an_unknown_metadata_path_is_404(sandbox: Sandbox) -> None:
    instance_id = launch_instance(sandbox)
    assert (
        get(sandbox, instance_id, "/latest/meta-data/no-such-item", token(sandbox.imds_endpoint(instance_id)))[0] == 404
    )


def test_the_journal_records_method_path_token_and_status(sandbox: Sandbox) -> None:
    # GIVEN an instance WHEN it makes an IMDSv1 call, takes a token and makes an IMDSv2 call
    instance_id = launch_instance(sandbox)
    get(sandbox, instance_id, "/latest/meta-data/instance-id")
    get(sandbox, instance_id, "/latest/meta-data/instance-id", token(sandbox.imds_endpoint(instance_id)))
    # THEN the journal has the three requests, in order, and whether each presented a token
    assert sandbox.imds.journal.records(instance_id) == [
        ImdsRequest(instance_id, "GET", "/latest/meta-data/instance-id", False, 401),
        ImdsRequest(instance_id, "PUT", "/latest/api/token", False, 200),
        ImdsRequest(instance_id, "GET", "/latest/meta-data/instance-id", True, 200),
    ]


def test_metadata_requests_are_not_aws_api_calls(sandbox: Sandbox) -> None:
    # WHEN an instance reads its metadata THEN the API call journal (and so the fault controls) never sees it
    instance_id = launch_instance(sandbox)
    get(sandbox, instance_id, "/latest/meta-data/instance-id", token(sandbox.imds_endpoint(instance_id)))
    assert sandbox.imds.journal.records(instance_id)
    assert not [r for r in sandbox.journal.records() if instance_id in r.action or r.action.startswith("/imds")]
