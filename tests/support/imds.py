"""Instances whose instance metadata options come from their launch template, as a group's instances get them."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sandbox import Sandbox
from tests.support.waiting import wait_for

AMI = "ami-12c6146b"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 120.0) -> T:
    """Polls until probe returns something truthy (tests/support/waiting.py, with a generous limit)."""
    return wait_for(probe, timeout=timeout)  # type: ignore[return-value]


def launch_template(sandbox: Sandbox, *, http_tokens: str = "required", tags_in_metadata: str = "enabled") -> str:
    """A launch template with these MetadataOptions (the settings docs/hostnames.md asks operators for)."""
    name = f"imds-{uuid.uuid4().hex[:12]}"
    sandbox.client("ec2").create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={
            "ImageId": AMI,
            "InstanceType": "t3.micro",
            "MetadataOptions": {"HttpTokens": http_tokens, "InstanceMetadataTags": tags_in_metadata},
        },
    )
    return name


def launch_instance(
    sandbox: Sandbox,
    *,
    http_tokens: str = "required",
    tags_in_metadata: str = "enabled",
    tags: dict[str, str] | None = None,
) -> str:
    """RunInstances from a fresh launch template with these options; returns the instance id."""
    ec2 = sandbox.client("ec2")
    template = launch_template(sandbox, http_tokens=http_tokens, tags_in_metadata=tags_in_metadata)
    instance_id = str(
        ec2.run_instances(MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateName": template})["Instances"][0][
            "InstanceId"
        ]
    )
    if tags:
        tag(sandbox, instance_id, tags)
    return instance_id


def tag(sandbox: Sandbox, instance_id: str, tags: dict[str, str]) -> None:
    sandbox.client("ec2").create_tags(
        Resources=[instance_id], Tags=[{"Key": key, "Value": value} for key, value in tags.items()]
    )


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    headers: dict[str, str]


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Reply:
    """One plain HTTP request, no proxy, error statuses returned rather than raised."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as answer:
            return Reply(answer.status, answer.read().decode(), dict(answer.headers.items()))
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.read().decode(), dict(error.headers.items()))


def token(endpoint: str, ttl: int = 21600) -> str:
    reply = request(f"{endpoint}/latest/api/token", "PUT", {TTL_HEADER: str(ttl)})
    assert reply.status == 200, reply
    return reply.body
