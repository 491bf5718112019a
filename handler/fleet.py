"""The only module that talks to AWS: EC2 and Auto Scaling calls, and what their errors mean."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from handler.config import Settings
from handler.naming import InstanceFacts

# EC2 accepts at most 200 values in one filter.
DESCRIBE_CHUNK = 200
_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "TooManyRequestsException",
        "ResourceContention",
    }
)
_SERVER_CODES = frozenset({"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"})
_NO_ACTIVE_ACTION = "No active Lifecycle Action found"
_GONE_STATES = frozenset({"shutting-down", "terminated"})


class TransientAwsError(Exception):
    """Throttling, a 5xx or a dropped connection that outlived botocore's retries: worth retrying."""


class InstanceNotVisible(Exception):
    """EC2 does not (yet) know the instance: eventual consistency right after launch, or gone."""


class ActionNotActive(Exception):
    """The lifecycle action is already completed, timed out or unknown: nothing left to do."""


@dataclass(frozen=True)
class InstanceRecord:
    """What DescribeInstances tells about one instance, reduced to what naming needs."""

    instance_id: str
    state: str
    private_ip: str | None
    availability_zone: str
    tags: dict[str, str]
    volume_ids: tuple[str, ...]
    network_interface_ids: tuple[str, ...]
    launch_time: datetime | None

    @property
    def is_gone(self) -> bool:
        return self.state in _GONE_STATES

    def facts(self, asg_name: str | None, region: str | None) -> InstanceFacts:
        """What a template renders from: the same mapping for the handler, the sweep and the CLI."""
        return InstanceFacts(
            instance_id=self.instance_id,
            private_ip=self.private_ip,
            tags=self.tags,
            az=self.availability_zone or None,
            asg_name=asg_name,
            region=region,
        )


def client_config(retries: dict[str, Any], max_pool_connections: int) -> Config:
    """Explicit retry mode (never botocore's implicit default) and short timeouts.

    One call with its botocore retries must fit in TIME_MARGIN_SECONDS (default 25 s), because tenacity can
    only stop between calls: 3 attempts x (2 s connect + 5 s read) + botocore's backoff (under 3 s) = 24 s at
    worst. The longer retrying is tenacity's, in namer.py, against the invocation's deadline.
    """
    return Config(
        retries=retries,
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=max_pool_connections,
    )


class Fleet:
    """EC2 and Auto Scaling as the handler and the CLI use them; boto3 errors become the three exceptions above.

    The CLI passes its own session (``--profile``); the Lambda builds one from the environment.
    """

    def __init__(self, config: Config, region: str | None = None, session: boto3.session.Session | None = None) -> None:
        session = session or boto3.session.Session(region_name=region)
        self._ec2 = session.client("ec2", config=config)
        self._autoscaling = session.client("autoscaling", config=config)

    @classmethod
    def from_settings(cls, settings: Settings) -> Fleet:
        """The function's clients: its retry policy, and a connection pool as wide as the record pool."""
        return cls(client_config(settings.retries, max_pool_connections=settings.max_workers * 2), settings.region)

    def describe(self, instance_ids: Iterable[str]) -> dict[str, InstanceRecord]:
        """One DescribeInstances per 200 ids; ids EC2 does not know are simply absent from the result.

        A filter (rather than InstanceIds) keeps one unknown id from failing the whole call.
        """
        wanted = sorted(set(instance_ids))
        found: dict[str, InstanceRecord] = {}
        for start in range(0, len(wanted), DESCRIBE_CHUNK):
            chunk = wanted[start : start + DESCRIBE_CHUNK]
            pages = _call(
                lambda chunk=chunk: (
                    self._ec2.get_paginator("describe_instances")
                    .paginate(Filters=[{"Name": "instance-id", "Values": chunk}])
                    .build_full_result()
                )
            )
            for reservation in pages.get("Reservations", []):
                for raw in reservation.get("Instances", []):
                    record = _instance_record(raw)
                    found[record.instance_id] = record
        return found

    def create_tags(self, resource_ids: Sequence[str], key: str, value: str) -> None:
        """CreateTags overwrites the value in place, so a rename never needs DeleteTags."""
        try:
            _call(lambda: self._ec2.create_tags(Resources=list(resource_ids), Tags=[{"Key": key, "Value": value}]))
        except ClientError as error:
            if _code(error).startswith("InvalidInstanceID.NotFound"):
                raise InstanceNotVisible(str(error)) from error
            raise

    def complete(self, asg_name: str, hook_name: str, token: str, result: str) -> None:
        """By token only: a token names one launch, an instance id could match a later action of the same instance."""
        self._lifecycle_call(
            "complete_lifecycle_action",
            AutoScalingGroupName=asg_name,
            LifecycleHookName=hook_name,
            LifecycleActionToken=token,
            LifecycleActionResult=result,
        )

    def heartbeat(self, asg_name: str, hook_name: str, token: str) -> None:
        self._lifecycle_call(
            "record_lifecycle_action_heartbeat",
            AutoScalingGroupName=asg_name,
            LifecycleHookName=hook_name,
            LifecycleActionToken=token,
        )

    def _lifecycle_call(self, operation: str, **params: str) -> None:
        try:
            _call(lambda: getattr(self._autoscaling, operation)(**params))
        except ClientError as error:
            if _code(error) == "ValidationError" and _NO_ACTIVE_ACTION in str(error):
                raise ActionNotActive(error.response.get("Error", {}).get("Message", str(error))) from error
            raise


def _call(operation: Any) -> Any:
    """Runs one boto3 call, turning what is worth retrying into TransientAwsError."""
    try:
        return operation()
    except ClientError as error:
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if _code(error) in _THROTTLING_CODES or _code(error) in _SERVER_CODES or status >= 500:
            raise TransientAwsError(f"{_code(error)}: {error}") from error
        raise
    except (ConnectionError, HTTPClientError) as error:
        raise TransientAwsError(f"connection: {error}") from error


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _instance_record(raw: dict[str, Any]) -> InstanceRecord:
    return InstanceRecord(
        instance_id=raw["InstanceId"],
        state=raw.get("State", {}).get("Name", "unknown"),
        private_ip=raw.get("PrivateIpAddress") or None,
        availability_zone=raw.get("Placement", {}).get("AvailabilityZone", ""),
        tags={tag["Key"]: tag.get("Value", "") for tag in raw.get("Tags", [])},
        volume_ids=tuple(
            mapping["Ebs"]["VolumeId"] for mapping in raw.get("BlockDeviceMappings", []) if "Ebs" in mapping
        ),
        network_interface_ids=tuple(eni["NetworkInterfaceId"] for eni in raw.get("NetworkInterfaces", [])),
        launch_time=raw.get("LaunchTime"),
    )
