"""The per-record handler a team writes first: the benchmark's baseline, naive on purpose.

For each SQS record, one after the other: parse the body, DescribeInstances for that one instance,
DeleteTags the old Name, CreateTags the new one, CompleteLifecycleAction. boto3 with the SDK's default
configuration (no explicit retry mode). It names instances the way asg-namer does (handler.naming) and
returns a partial batch response, so the same trigger settings apply to both candidates.

Do not improve it: it stands for what asg-namer is measured against.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from handler.naming import DEFAULT_TEMPLATE, InstanceFacts, compile_template

TEMPLATE = compile_template(DEFAULT_TEMPLATE)
ec2 = boto3.client("ec2")
autoscaling = boto3.client("autoscaling")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event.get("Records", []):
        try:
            handle(json.loads(record["body"]))
        except Exception as error:  # noqa: BLE001 - the record is retried through SQS
            print(json.dumps({"level": "ERROR", "message": "record failed", "error": str(error)}))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def handle(message: dict[str, Any]) -> None:
    if message.get("LifecycleTransition") != "autoscaling:EC2_INSTANCE_LAUNCHING":
        return  # test notifications and other transitions
    instance_id = message["EC2InstanceId"]
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instance = reservations[0]["Instances"][0]
    name = TEMPLATE.render(
        InstanceFacts(
            instance_id=instance_id,
            private_ip=instance.get("PrivateIpAddress"),
            tags={tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])},
            az=instance.get("Placement", {}).get("AvailabilityZone"),
            asg_name=message.get("AutoScalingGroupName"),
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        )
    )
    if not isinstance(name, str):
        raise ValueError(f"cannot name {instance_id}: {name}")
    ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": "Name"}])
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "Name", "Value": name}])
    autoscaling.complete_lifecycle_action(
        AutoScalingGroupName=message["AutoScalingGroupName"],
        LifecycleHookName=message["LifecycleHookName"],
        LifecycleActionToken=message["LifecycleActionToken"],
        InstanceId=instance_id,
        LifecycleActionResult="CONTINUE",
    )
