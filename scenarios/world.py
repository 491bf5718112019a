"""A realistic Auto Scaling setup built with plain boto3 calls: what an operator's account would hold.

The demo, the end-to-end tests, the benchmark and the fault suite all start from this.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from handler.fleet import SLOT_TABLE_ATTRIBUTES, SLOT_TABLE_KEY_SCHEMA

# Each world gets its own /22 (10.x.12.0, 10.x.16.0, ...): one team's groups do not share IP addresses, so
# names built from the last two octets stay apart; the cycle repeats after 61 worlds.
_SUBNETS = itertools.cycle(range(12, 256, 4))
TEAM_TAGS = {"Region": "vg", "App": "store", "Layer": "web", "Env": "release", "Group": "a"}
LAUNCH_TRANSITION = "autoscaling:EC2_INSTANCE_LAUNCHING"


@dataclass(frozen=True)
class World:
    """Names and addresses of one scenario's resources."""

    asg_name: str
    hook_name: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    role_arn: str
    subnet_id: str
    tags: dict[str, str] = field(default_factory=dict)


def clients(endpoint_url: str | None = None, region: str = "us-east-1") -> dict[str, Any]:
    session = boto3.session.Session(region_name=region)
    return {name: session.client(name, endpoint_url=endpoint_url) for name in ("ec2", "sqs", "autoscaling", "iam")}


def create_slot_table(name: str, endpoint_url: str | None = None) -> str:
    """The DynamoDB table {slot} numbers live in, with the key schema the stack gives it."""
    dynamodb = boto3.session.Session(region_name="us-east-1").client("dynamodb", endpoint_url=endpoint_url)
    dynamodb.create_table(
        TableName=name,
        KeySchema=list(SLOT_TABLE_KEY_SCHEMA),
        AttributeDefinitions=list(SLOT_TABLE_ATTRIBUTES),
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def build_world(
    name: str,
    *,
    endpoint_url: str | None = None,
    capacity: int = 0,
    max_size: int = 2000,
    tags: dict[str, str] | None = None,
    heartbeat_timeout: int = 300,
    default_result: str = "ABANDON",
    visibility_timeout: int = 30,
    max_receive_count: int = 5,
    notification_metadata: str | None = None,
    cidr_second_octet: int = 0,
    cidr_third_octet: int | None = None,
    metadata_options: Mapping[str, str] | None = None,
    served_by: World | None = None,
) -> World:
    """VPC, subnet, launch template, queue + DLQ, hook role and an ASG whose launch hook targets the queue.

    The hook is part of CreateAutoScalingGroup (LifecycleHookSpecificationList), as the README advises,
    so even the initial capacity gets messages. ``metadata_options`` become the launch template's
    MetadataOptions (docs/hostnames.md asks for tags in instance metadata). With ``served_by`` the group gets
    no queue, DLQ or role of its own: its hook notifies that world's queue with that world's role, as a
    group attached to an existing deployment does.
    """
    aws = clients(endpoint_url)
    ec2, sqs, autoscaling, iam = aws["ec2"], aws["sqs"], aws["autoscaling"], aws["iam"]
    team_tags = dict(TEAM_TAGS if tags is None else tags)
    third = next(_SUBNETS) if cidr_third_octet is None else cidr_third_octet
    vpc_id = ec2.create_vpc(CidrBlock=f"10.{cidr_second_octet}.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.{cidr_second_octet}.{third}.0/22")["Subnet"]["SubnetId"]
    template_name = f"{name}-lt"
    template_data: dict[str, Any] = {"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    if metadata_options is not None:
        template_data["MetadataOptions"] = dict(metadata_options)
    ec2.create_launch_template(LaunchTemplateName=template_name, LaunchTemplateData=template_data)
    if served_by is None:
        queue_url, queue_arn, dlq_url, dlq_arn, role_arn = _deployment_queue_and_role(
            name, sqs, iam, visibility_timeout, max_receive_count
        )
    else:
        queue_url, queue_arn, role_arn = served_by.queue_url, served_by.queue_arn, served_by.role_arn
        dlq_url, dlq_arn = served_by.dlq_url, served_by.dlq_arn
    hook_name = f"{name}-launch"
    hook: dict[str, Any] = {
        "LifecycleHookName": hook_name,
        "LifecycleTransition": LAUNCH_TRANSITION,
        "NotificationTargetARN": queue_arn,
        "RoleARN": role_arn,
        "HeartbeatTimeout": heartbeat_timeout,
        "DefaultResult": default_result,
    }
    if notification_metadata is not None:
        hook["NotificationMetadata"] = notification_metadata
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": template_name, "Version": "$Latest"},
        MinSize=0,
        MaxSize=max_size,
        DesiredCapacity=capacity,
        VPCZoneIdentifier=subnet_id,
        LifecycleHookSpecificationList=[hook],
        Tags=[
            {
                "Key": key,
                "Value": value,
                "PropagateAtLaunch": True,
                "ResourceId": name,
                "ResourceType": "auto-scaling-group",
            }
            for key, value in team_tags.items()
        ],
    )
    return World(name, hook_name, queue_url, queue_arn, dlq_url, dlq_arn, role_arn, subnet_id, team_tags)


def _deployment_queue_and_role(
    name: str, sqs: Any, iam: Any, visibility_timeout: int, max_receive_count: int
) -> tuple[str, str, str, str, str]:
    """The queue a deployment's launch hooks notify (URL, ARN), its DLQ (URL, ARN), and the hook role's ARN."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"{name}-queue",
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role_arn = create_hook_role(iam, f"{name}-hook-role")
    return queue_url, queue_arn, dlq_url, dlq_arn, role_arn


def create_hook_role(iam: Any, role_name: str) -> str:
    """The role Auto Scaling assumes to publish a group's lifecycle notifications (its ARN)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "autoscaling.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return str(iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
