"""The only module that talks to AWS: EC2, Auto Scaling (and DynamoDB for slots) calls, and what their errors mean."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from handler.config import Settings
from handler.naming import InstanceFacts

# EC2 accepts at most 200 values in one filter.
DESCRIBE_CHUNK = 200
_THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "TransactionConflictException",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "TooManyRequestsException",
        "ResourceContention",
    }
)
_SERVER_CODES = frozenset({"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"})
_NO_ACTIVE_ACTION = "No active Lifecycle Action found"  # observed, not documented: docs/aws-behaviour.md
GONE_STATES = frozenset({"shutting-down", "terminated"})
LIVE_STATES = ("pending", "running", "stopping", "stopped")
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
GROUP_TAG = "aws:autoscaling:groupName"  # set by Auto Scaling on every instance it launches (docs/aws-behaviour.md)
# A launch whose lifecycle action was completed with ABANDON (docs/aws-behaviour.md, "Scaling activities").
_ABANDONED_LAUNCH = "Lifecycle Action Completed with ABANDON Result"
_LAUNCH_ACTIVITY = re.compile(r"Launching a new EC2 instance: (i-[0-9a-f]+)")


ClientFactory = Callable[[str, Config], Any]


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
        return self.state in GONE_STATES

    @property
    def group(self) -> str | None:
        """The Auto Scaling group that launched it, as AWS tagged it (never as a message claims)."""
        return self.tags.get(GROUP_TAG)

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


@dataclass(frozen=True)
class HookRecord:
    """A launch lifecycle hook as DescribeLifecycleHooks reports it."""

    group: str
    name: str
    target_arn: str | None
    metadata: str | None
    heartbeat_timeout: int
    default_result: str


@dataclass(frozen=True)
class GroupRecord:
    """An Auto Scaling group as DescribeAutoScalingGroups reports it: its instances and their lifecycle state."""

    name: str
    instances: tuple[tuple[str, str], ...]  # (instance id, lifecycle state)
    has_warm_pool: bool


@dataclass(frozen=True)
class SlotItem:
    """One number of a {slot} pool and the instance holding it (handler/slots.py)."""

    slot: int
    holder: str
    claimed_at: float


@dataclass(frozen=True)
class ClaimOutcome:
    claimed: bool
    already_holding: int | None = None  # the instance holds this number of the pool already


@dataclass(frozen=True)
class BlockOutcome:
    """A block of claims is one transaction: all claimed, or none, and then why."""

    claimed: bool
    taken: frozenset[int] = frozenset()  # numbers someone else holds by now
    holding: Mapping[str, int] = field(default_factory=dict)  # instances that hold a number of the pool already


def client_config(retries: dict[str, Any], max_pool_connections: int) -> Config:
    """Explicit retry mode (never botocore's implicit default) and short timeouts.

    One call with its botocore retries must fit in TIME_MARGIN_SECONDS (default 25 s), because tenacity can
    only stop between calls: 3 attempts x (2 s connect + 5 s read) + botocore's backoff (under 3 s) = 24 s at
    worst. The longer retrying is tenacity's, in launch.py, against the invocation's deadline. (In adaptive
    mode the client-side rate limiter may also wait before sending: heartbeats never go through it.)
    """
    return Config(
        retries=retries,
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=max_pool_connections,
    )


class Fleet:
    """EC2 and Auto Scaling as the handler and the CLI use them; boto3 errors become the three exceptions above.

    Clients come from ``make_client(service, config)``: the CLI passes its boto3 session's (``--profile``);
    the Lambda's come straight from botocore, which is all it needs (boto3 would add s3transfer and its
    resource layer to every cold start). Both honour AWS_ENDPOINT_URL.
    """

    def __init__(self, config: Config, region: str | None = None, make_client: ClientFactory | None = None) -> None:
        if make_client is None:
            session = botocore.session.get_session()

            def make_client(service: str, config: Config) -> Any:
                return session.create_client(service, region_name=region, config=config)

        self._make_client = make_client
        self._ec2 = make_client("ec2", config)
        self._autoscaling = make_client("autoscaling", config)
        # DynamoDB only for {slot} templates: built on first use, so other deployments never load its model.
        self._config = config
        self._dynamodb: Any = None
        self._heartbeats: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Fleet:
        """The function's clients: its retry policy, and a connection pool as wide as the record pool."""
        return cls(client_config(settings.retries, max_pool_connections=settings.max_workers * 2), settings.region)

    def describe(self, instance_ids: Iterable[str], states: Iterable[str] = ()) -> dict[str, InstanceRecord]:
        """One DescribeInstances per 200 ids; ids EC2 does not know are simply absent from the result.

        A filter (rather than InstanceIds) keeps one unknown id from failing the whole call. ``states``, when
        given, leaves out the instances in other states (EC2 returns, and the caller reads, only those).
        """
        wanted = sorted(set(instance_ids))
        state_filter = [{"Name": "instance-state-name", "Values": sorted(states)}] if states else []
        found: dict[str, InstanceRecord] = {}
        for start in range(0, len(wanted), DESCRIBE_CHUNK):
            chunk = wanted[start : start + DESCRIBE_CHUNK]
            filters = [{"Name": "instance-id", "Values": chunk}, *state_filter]
            pages = _call(
                lambda filters=filters: (
                    self._ec2.get_paginator("describe_instances").paginate(Filters=filters).build_full_result()
                )
            )
            for reservation in pages.get("Reservations", []):
                for raw in reservation.get("Instances", []):
                    record = _instance_record(raw)
                    found[record.instance_id] = record
        return found

    def create_tags(self, resource_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        """CreateTags overwrites values in place, so a rename never needs DeleteTags."""
        pairs = [{"Key": key, "Value": value} for key, value in tags.items()]
        try:
            _call(lambda: self._ec2.create_tags(Resources=list(resource_ids), Tags=pairs))
        except ClientError as error:
            if _code(error).startswith("InvalidInstanceID.NotFound"):
                raise InstanceNotVisible(str(error)) from error
            raise

    def instances_named(self, tag_key: str, names: Iterable[str]) -> dict[str, frozenset[str]]:
        """Name -> ids of the live instances (pending, running, stopping, stopped) whose ``tag_key`` holds it.

        One DescribeInstances per 200 names (a tag filter; names hold no EC2 filter wildcards: * and ? are not
        allowed in a name).
        """
        wanted = sorted(set(names))
        found: dict[str, set[str]] = {}
        for start in range(0, len(wanted), DESCRIBE_CHUNK):
            chunk = wanted[start : start + DESCRIBE_CHUNK]
            filters = [
                {"Name": f"tag:{tag_key}", "Values": chunk},
                {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
            ]
            pages = _call(
                lambda filters=filters: (
                    self._ec2.get_paginator("describe_instances").paginate(Filters=filters).build_full_result()
                )
            )
            for reservation in pages.get("Reservations", []):
                for raw in reservation.get("Instances", []):
                    record = _instance_record(raw)
                    found.setdefault(record.tags.get(tag_key, ""), set()).add(record.instance_id)
        asked = set(wanted)
        return {name: frozenset(ids) for name, ids in found.items() if name in asked}

    def delete_tags(self, resource_ids: Sequence[str], keys: Iterable[str]) -> None:
        _call(lambda: self._ec2.delete_tags(Resources=list(resource_ids), Tags=[{"Key": key} for key in keys]))

    def launch_hooks(self, group: str) -> list[HookRecord]:
        """The group's launch lifecycle hooks; none when the group does not exist."""
        answer = _call(lambda: self._autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group))
        return [
            HookRecord(
                group=group,
                name=hook["LifecycleHookName"],
                target_arn=hook.get("NotificationTargetARN") or None,
                metadata=hook.get("NotificationMetadata"),
                heartbeat_timeout=int(hook.get("HeartbeatTimeout", 0)),
                default_result=hook.get("DefaultResult", "ABANDON"),
            )
            for hook in answer.get("LifecycleHooks", [])
            if hook.get("LifecycleTransition") == LAUNCHING
        ]

    def abandoned_launches(self, group: str, since: datetime) -> list[str]:
        """Instances whose launch was abandoned through CompleteLifecycleAction since ``since`` (newest first).

        One DescribeScalingActivities page: activities come newest first, and the breaker needs only the
        last hour, so a page of 100 is plenty.
        """
        answer = _call(
            lambda: self._autoscaling.describe_scaling_activities(AutoScalingGroupName=group, MaxRecords=100)
        )
        found: list[str] = []
        for activity in answer.get("Activities", []):
            started = activity.get("StartTime")
            match = _LAUNCH_ACTIVITY.search(activity.get("Description", ""))
            if (
                match
                and started is not None
                and started >= since
                and _ABANDONED_LAUNCH in activity.get("StatusMessage", "")
            ):
                found.append(match.group(1))
        return found

    def complete(self, asg_name: str, hook_name: str, token: str, result: str) -> None:
        """By token only: a token names one launch, an instance id could match a later action of the same instance."""
        self._lifecycle_call(
            "complete_lifecycle_action",
            AutoScalingGroupName=asg_name,
            LifecycleHookName=hook_name,
            LifecycleActionToken=token,
            LifecycleActionResult=result,
        )

    def complete_by_instance(self, asg_name: str, hook_name: str, instance_id: str, result: str) -> None:
        """For the sweep, which holds no token: the instance's open action on this hook (there is one at most)."""
        self._lifecycle_call(
            "complete_lifecycle_action",
            AutoScalingGroupName=asg_name,
            LifecycleHookName=hook_name,
            InstanceId=instance_id,
            LifecycleActionResult=result,
        )

    def groups(self, names: Sequence[str] = ()) -> list[GroupRecord]:
        """Every group of the Region (or the named ones): one DescribeAutoScalingGroups page per 100 groups."""
        found: list[GroupRecord] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"MaxRecords": 100}
            if names:
                params["AutoScalingGroupNames"] = list(names)
            if token:
                params["NextToken"] = token
            page = _call(lambda params=params: self._autoscaling.describe_auto_scaling_groups(**params))
            for group in page.get("AutoScalingGroups", []):
                found.append(
                    GroupRecord(
                        name=group["AutoScalingGroupName"],
                        instances=tuple(
                            (i["InstanceId"], i.get("LifecycleState", "")) for i in group.get("Instances", [])
                        ),
                        has_warm_pool=bool(group.get("WarmPoolConfiguration")),
                    )
                )
            token = page.get("NextToken")
            if not token:
                return found

    def warm_pool_instances(self, group: str) -> list[tuple[str, str]]:
        """(instance id, lifecycle state) of the group's warm pool (DescribeWarmPool, paginated)."""
        found: list[tuple[str, str]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"AutoScalingGroupName": group}
            if token:
                params["NextToken"] = token
            page = _call(lambda params=params: self._autoscaling.describe_warm_pool(**params))
            found += [(i["InstanceId"], i.get("LifecycleState", "")) for i in page.get("Instances", [])]
            token = page.get("NextToken")
            if not token:
                return found

    def heartbeat(self, asg_name: str, hook_name: str, token: str) -> None:
        """Through a client of its own in standard retry mode: under sustained throttling the adaptive mode's
        client-side limiter queues a call behind the others for longer than the deadline margin (measured in
        the sandbox: up to 34 s with eight workers), and a heartbeat that comes too late keeps nothing alive."""
        self._lifecycle_call(
            "record_lifecycle_action_heartbeat",
            client=self._heartbeat_client(),
            AutoScalingGroupName=asg_name,
            LifecycleHookName=hook_name,
            LifecycleActionToken=token,
        )

    def _heartbeat_client(self) -> Any:
        if self._heartbeats is None:
            retries = {**(self._config.retries or {}), "mode": "standard"}
            self._heartbeats = self._make_client("autoscaling", self._config.merge(Config(retries=retries)))
        return self._heartbeats

    def _lifecycle_call(self, operation: str, client: Any = None, **params: str) -> None:
        try:
            _call(lambda: getattr(client or self._autoscaling, operation)(**params))
        except ClientError as error:
            if _code(error) == "ValidationError" and _NO_ACTIVE_ACTION in str(error):
                raise ActionNotActive(error.response.get("Error", {}).get("Message", str(error))) from error
            raise

    # ------------------------------------------------------------------ {slot} pools (DynamoDB)
    def query_pool(self, table: str, pool: str) -> list[SlotItem]:
        """Every number of the pool and its holder: one Query (consistent), no scan."""
        items: list[SlotItem] = []
        start: dict[str, Any] | None = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            page = _call(
                lambda extra=extra: self._table_client().query(
                    TableName=table,
                    KeyConditionExpression="#pool = :pool AND begins_with(sk, :slot)",
                    ExpressionAttributeNames={"#pool": "pool"},
                    ExpressionAttributeValues={":pool": {"S": pool}, ":slot": {"S": _SLOT_PREFIX}},
                    ConsistentRead=True,
                    **extra,
                )
            )
            items += [
                SlotItem(int(raw["sk"]["S"][len(_SLOT_PREFIX) :]), raw["holder"]["S"], float(raw["claimed_at"]["N"]))
                for raw in page.get("Items", [])
            ]
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def claim_slot(
        self, table: str, pool: str, slot: int, instance_id: str, now: float, previous: str | None
    ) -> ClaimOutcome:
        """One number for one instance (see claim_slots)."""
        outcome = self.claim_slots(table, pool, [(slot, instance_id, previous)], now)
        return ClaimOutcome(outcome.claimed, outcome.holding.get(instance_id))

    def claim_slots(
        self, table: str, pool: str, claims: Sequence[tuple[int, str, str | None]], now: float
    ) -> BlockOutcome:
        """One transaction for up to MAX_BLOCK claims (number, instance, dead holder it replaces or None): each
        number free (or held by that dead holder), each instance holding no number of the pool yet, the dead
        holders' items deleted. All or nothing: on a cancellation, which numbers are taken and which
        instances hold a number already."""
        items: list[dict[str, Any]] = []
        meaning: list[tuple[str, int, str]] = []  # per item: "slot" / "holder" / "delete", number, instance
        for slot, instance_id, previous in claims:
            slot_put: dict[str, Any] = {
                "TableName": table,
                "Item": {
                    "pool": {"S": pool},
                    "sk": {"S": _slot_key(slot)},
                    "holder": {"S": instance_id},
                    "claimed_at": {"N": f"{now:.3f}"},
                },
                "ConditionExpression": "attribute_not_exists(sk)",
            }
            if previous is not None:
                slot_put["ConditionExpression"] = "holder = :previous"
                slot_put["ExpressionAttributeValues"] = {":previous": {"S": previous}}
            items.append({"Put": slot_put})
            meaning.append(("slot", slot, instance_id))
            items.append(
                {
                    "Put": {
                        "TableName": table,
                        "Item": {
                            "pool": {"S": pool},
                            "sk": {"S": _HOLDER_PREFIX + instance_id},
                            "slot": {"N": str(slot)},
                        },
                        "ConditionExpression": "attribute_not_exists(sk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
            meaning.append(("holder", slot, instance_id))
            if previous is not None:
                items.append({"Delete": {"TableName": table, "Key": _key(pool, _HOLDER_PREFIX + previous)}})
                meaning.append(("delete", slot, previous))
        try:
            _call(lambda: self._table_client().transact_write_items(TransactItems=items))
        except ClientError as error:
            if _code(error) != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons", [])
            taken: set[int] = set()
            holding: dict[str, int] = {}
            for (kind, slot, instance_id), reason in zip(meaning, reasons, strict=False):
                if reason.get("Code") != "ConditionalCheckFailed":
                    continue
                if kind == "slot":
                    taken.add(slot)
                elif kind == "holder":
                    held = reason.get("Item", {}).get("slot", {}).get("N")
                    if held is not None:
                        holding[instance_id] = int(held)
            if not taken and not holding:
                raise TransientAwsError(f"slot transaction cancelled: {reasons}") from error
            return BlockOutcome(False, frozenset(taken), holding)
        return BlockOutcome(True)

    def _table_client(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = self._make_client("dynamodb", self._config)
        return self._dynamodb


# The slot table's key schema, as infra/cloudformation.yaml creates it (a test compares) and scenarios build it.
SLOT_TABLE_KEY_SCHEMA = ({"AttributeName": "pool", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"})
SLOT_TABLE_ATTRIBUTES = (
    {"AttributeName": "pool", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
)
MAX_BLOCK = 25  # claims per transaction: at most three items each, and DynamoDB allows 100 items
_SLOT_PREFIX = "s#"
_HOLDER_PREFIX = "h#"


def _slot_key(slot: int) -> str:
    return f"{_SLOT_PREFIX}{slot:09d}"


def _key(pool: str, sort_key: str) -> dict[str, Any]:
    return {"pool": {"S": pool}, "sk": {"S": sort_key}}


def _call(operation: Any) -> Any:
    """Runs one AWS call, turning what is worth retrying into TransientAwsError."""
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
