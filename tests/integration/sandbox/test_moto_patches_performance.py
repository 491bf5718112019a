"""sandbox.moto_patches, performance section: EC2 tag reads by resource id, cached filter patterns, SQS's clock.

Each patch answers what moto as it is answers (its original is kept as ``__wrapped__``); the tests compare the
two, and check the behaviour they serve through the API.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest

from sandbox import ACCOUNT_ID, DEFAULT_REGION, Sandbox, moto_patches
from tests.support.hooked_world import HookedWorld

AMI = "ami-12c6146b"


@pytest.fixture
def ec2(sandbox: Sandbox) -> Any:
    return sandbox.client("ec2")


def ec2_backend() -> Any:
    from moto.ec2.models import ec2_backends  # noqa: PLC0415 - moto loads lazily

    return ec2_backends[ACCOUNT_ID][DEFAULT_REGION]


def launch(ec2: Any, name: str) -> str:
    spec = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}, {"Key": "Env", "Value": "t"}]}]
    instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, TagSpecifications=spec)["Instances"][0]
    return str(instance["InstanceId"])


def test_a_resources_tags_are_what_describe_tags_answers_for_it(sandbox: Sandbox, ec2: Any) -> None:
    from moto.ec2.models.core import TaggedEC2Resource  # noqa: PLC0415

    # GIVEN a tagged instance, a VPC tagged later (a tag changed, one added) and an untagged subnet
    instance_id = launch(ec2, "web-1")
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "b", "Value": "1"}, {"Key": "a", "Value": "2"}])
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "b", "Value": "3"}, {"Key": "c", "Value": ""}])
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    backend = ec2_backend()
    resources = [backend.get_instance(instance_id), backend.get_vpc(vpc_id), backend.get_subnet(subnet_id)]
    # WHEN each one's tags are read, by the patch and by moto as it is (DescribeTags filtered by its id)
    as_is = TaggedEC2Resource.get_tags.__wrapped__
    # THEN both read the same entries in the same order, and reading the untagged subnet added no entry
    for resource in resources:
        assert resource.get_tags() == as_is(resource)
    assert [t["key"] for t in resources[1].get_tags()] == ["b", "a", "c"]
    assert resources[1].get_tags()[0] == {"resource_id": vpc_id, "key": "b", "value": "3", "resource_type": "vpc"}
    assert subnet_id not in backend.tags


FILTER_VALUES = ["web-*", r"web-\*", "web-?", r"web-\?", "a.b[c]", "(x|y)+", "", "*"]


def test_cached_filter_patterns_are_the_ones_moto_makes(sandbox: Sandbox) -> None:
    from moto.ec2 import utils as ec2_utils  # noqa: PLC0415

    # WHEN a filter value is translated twice (the second time from the cache)
    # THEN both are the pattern moto makes of it
    for value in FILTER_VALUES:
        first = ec2_utils.simple_aws_filter_to_re(value)
        assert ec2_utils.simple_aws_filter_to_re(value) == first == ec2_utils.simple_aws_filter_to_re.__wrapped__(value)


def test_tag_filters_match_wildcards_and_escaped_literals(sandbox: Sandbox, ec2: Any, unique: str) -> None:
    # GIVEN instances named web-1, web-* (a literal star) and db-1
    named = {name: launch(ec2, f"{unique}-{name}") for name in ("web-1", "web-*", "db-1")}

    def matching(value: str) -> set[str]:
        filters = [{"Name": "tag:Name", "Values": [f"{unique}-{value}"]}]
        reservations = ec2.describe_instances(Filters=filters)["Reservations"]
        found = {i["InstanceId"] for r in reservations for i in r["Instances"]}
        return {name for name, instance_id in named.items() if instance_id in found}

    # WHEN filtered by Name, twice each (the second answer comes from cached patterns)
    # THEN a wildcard matches both web names, an escaped star only the literal one
    for _ in range(2):
        assert matching("web-*") == {"web-1", "web-*"}
        assert matching(r"web-\*") == {"web-*"}
        assert matching("web-?") == {"web-1", "web-*"}
        assert matching("db-1") == {"db-1"}


def test_sqs_reads_now_from_the_clock_and_converts_given_times_as_before(sandbox: Sandbox) -> None:
    from moto.sqs import models as sqs_models  # noqa: PLC0415

    given = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901)
    # WHEN asked for now, and for a given (naive UTC) datetime
    before = time.time()
    now, now_millis = sqs_models.unix_time(), sqs_models.unix_time_millis()
    after = time.time()
    # THEN now is the clock's, in seconds and in milliseconds, and a given time converts as moto converts it
    assert before <= now <= after
    assert before * 1000 <= now_millis <= after * 1000
    assert sqs_models.unix_time(given) == sqs_models.unix_time.__wrapped__(given) == 1767323045.678901
    assert sqs_models.unix_time_millis(given) == sqs_models.unix_time_millis.__wrapped__(given)


def test_a_received_message_is_stamped_and_hidden_for_its_visibility_timeout(sandbox: Sandbox, unique: str) -> None:
    sqs = sandbox.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"clock-{unique}")["QueueUrl"]
    # GIVEN a message sent now
    before = time.time()
    sqs.send_message(QueueUrl=queue_url, MessageBody="tick")
    after = time.time()
    # WHEN received with a visibility timeout of an hour, then asked for again
    (message,) = sqs.receive_message(
        QueueUrl=queue_url, VisibilityTimeout=3600, AttributeNames=["SentTimestamp"], WaitTimeSeconds=1
    )["Messages"]
    again = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages", [])
    # THEN it carries when it was sent, and stays hidden until its visibility is changed back to 0
    assert int(before * 1000) <= int(message["Attributes"]["SentTimestamp"]) <= int(after * 1000) + 1
    assert again == []
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]] == ["tick"]


IMAGE_QUESTIONS: list[dict[str, Any]] = [
    {"filters": {"image-id": AMI}},
    {"filters": {"image-id": "ami-00000000"}},
    {"filters": {"image-id": "ami-12c6146?"}},
    {"filters": {"image-id": "ami-12c6146[ab]"}},
    {"filters": {"image-id": "*"}},
    {"filters": {"image-id": [AMI]}},
    {"filters": {"image-id": AMI, "state": "available"}},
    {"filters": {"image-id": AMI}, "owners": ["amazon"]},
    {"ami_ids": [AMI]},
    {},
]


@pytest.mark.parametrize("question", IMAGE_QUESTIONS, ids=lambda q: repr(q)[:60])
def test_images_looked_up_by_exact_id_are_the_ones_moto_finds(sandbox: Sandbox, question: dict[str, Any]) -> None:
    from moto.ec2.models.amis import AmiBackend  # noqa: PLC0415 - moto loads lazily

    # GIVEN the Region's AMIs as moto knows them
    backend = ec2_backend()
    # WHEN the patch and moto as it is answer the same question
    as_is = AmiBackend.describe_images.__wrapped__
    # THEN they name the same images in the same order
    assert [i.id for i in backend.describe_images(**question)] == [i.id for i in as_is(backend, **question)]


def test_a_launched_instance_takes_its_images_settings(sandbox: Sandbox, ec2: Any) -> None:
    # GIVEN an AMI whose settings differ from moto's defaults for an unknown image (Instance.__init__ copies them)
    source = launch(ec2, "source")
    image_id = ec2.create_image(InstanceId=source, Name=f"image-{source}")["ImageId"]
    image = ec2_backend().amis[image_id]
    image.architecture, image.root_device_name = "arm64", "/dev/xvda"
    # WHEN an instance is launched from it
    instance_id = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    # THEN the instance carries the image's settings
    instance = ec2_backend().get_instance(instance_id)
    assert (instance.architecture, instance.root_device_name) == (image.architecture, image.root_device_name)


def test_the_performance_patches_apply_once_however_often_installed(sandbox: Sandbox) -> None:
    from moto.core.serialize import AttributePicker, BaseJSONSerializer  # noqa: PLC0415
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415
    from moto.ec2 import utils as ec2_utils  # noqa: PLC0415
    from moto.ec2.models.amis import AmiBackend  # noqa: PLC0415
    from moto.ec2.models.core import TaggedEC2Resource  # noqa: PLC0415
    from moto.sqs import models as sqs_models  # noqa: PLC0415

    # WHEN installed again
    moto_patches._patch_speed()
    # THEN each replaced function wraps moto's own directly
    for replaced in (
        TaggedEC2Resource.get_tags,
        ec2_utils.simple_aws_filter_to_re,
        sqs_models.unix_time,
        sqs_models.unix_time_millis,
        DynamoDBBackend.transact_write_items,
        BaseJSONSerializer._serialize_type_structure,
        AttributePicker.__call__,
        AmiBackend.describe_images,
    ):
        assert getattr(replaced, "_sandbox_patch", None) == moto_patches._SPEED_PATCH
        assert getattr(replaced.__wrapped__, "_sandbox_patch", None) is None


def without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != "ResponseMetadata"}


def test_answers_with_aliases_worked_out_once_are_the_ones_moto_gives(
    sandbox: Sandbox, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.serialize import AttributePicker  # noqa: PLC0415

    # GIVEN a group of two tagged instances with a launch hook to a queue, and a DynamoDB table with an item
    world = HookedWorld(sandbox, unique)
    url, arn = world.queue()
    group = world.group(desired=2)
    world.launch_hook(group, arn, NotificationMetadata='{"asg-namer:name-template": "{tag:App}-{slot}"}')
    dynamodb = sandbox.client("dynamodb")
    table = f"t-{unique}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "n": {"N": "1"}, "l": {"L": [{"BOOL": True}]}})
    reads = [
        lambda: world.ec2.describe_instances(Filters=[{"Name": "tag:aws:autoscaling:groupName", "Values": [group]}]),
        lambda: world.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group]),
        lambda: world.asg.describe_lifecycle_hooks(AutoScalingGroupName=group),
        lambda: world.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
        lambda: dynamodb.describe_table(TableName=table),
        lambda: dynamodb.scan(TableName=table),
    ]
    # WHEN each is read twice with the aliases remembered (the second from what the first worked out), then with
    # moto's picker as it is
    patched = [[without_metadata(read()) for read in reads] for _ in range(2)]
    monkeypatch.setattr(AttributePicker, "__call__", AttributePicker.__call__.__wrapped__)
    as_is = [without_metadata(read()) for read in reads]
    # THEN the answers are the same, and not empty; a transformer moto sets per request still applies
    monkeypatch.undo()
    vpcs = [world.ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"] for n in (61, 62)]
    peering = world.ec2.create_vpc_peering_connection(VpcId=vpcs[0], PeerVpcId=vpcs[1])["VpcPeeringConnection"]
    assert peering["Status"] == {"Code": "initiating-request", "Message": f"Initiating Request to {ACCOUNT_ID}"}
    assert patched[0] == patched[1] == as_is
    assert sum(len(reservation["Instances"]) for reservation in as_is[0]["Reservations"]) == 2
    assert as_is[2]["LifecycleHooks"][0]["NotificationMetadata"].startswith("{")
