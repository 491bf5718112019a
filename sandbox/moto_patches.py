"""Every change this project makes to moto's behaviour lives here, so a moto upgrade shows what broke.

moto is pinned exactly (pyproject.toml); each patch has its own test under tests/integration/sandbox.
One file on purpose, though longer than the others: it is the complete list of what the sandbox
changes inside moto, section by section, and nothing else (DynamoDB's fast paths, too long for a
section, live in sandbox.dynamodb_fast_paths; the performance section lists what they replace).

The patches read the running sandbox through :class:`RunningSandbox` (its clock, fault controls and
lifecycle engine), so this module never imports the server that applies it.
"""

from __future__ import annotations

import copy
import datetime
import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from sandbox import dynamodb_fast_paths
from sandbox.s3_ownership import wrap_once

if TYPE_CHECKING:
    from sandbox.clock import SandboxClock
    from sandbox.faults import FaultControls
    from sandbox.lifecycle import LifecycleEngine


class RunningSandbox(Protocol):
    """What the patches need of the sandbox that applied them."""

    clock: SandboxClock
    controls: FaultControls
    lifecycle: LifecycleEngine


_active: RunningSandbox | None = None


def apply(sandbox: RunningSandbox) -> None:
    """Installs the patches for one running sandbox (moto's backends are process-wide: one at a time)."""
    global _active  # noqa: PLW0603 - moto's state is process-global, so is ours
    if _active is not None and _active is not sandbox:
        raise RuntimeError("another Sandbox is already running in this process; stop it first")
    _active = sandbox
    _disable_cors()
    _patch_speed()
    _patch_ec2_realism()
    _patch_lifecycle()
    _patch_cloudformation()


def release(sandbox: RunningSandbox) -> None:
    global _active  # noqa: PLW0603
    if _active is sandbox:
        _active = None


# ===================================================================================================
# No CORS (front-door helper). moto 5.2.5 wraps every backend app in flask_cors unless the module
# global DISABLE_GLOBAL_CORS (read once from MOTO_DISABLE_GLOBAL_CORS at import) is true, so every
# answer would carry Access-Control-Allow-Origin: the sandbox serves programs, never web pages
# (sandbox.front_door). Set before the server creates its first backend app:
#   moto.moto_server.werkzeug_app.DISABLE_GLOBAL_CORS    True
# ===================================================================================================


def _disable_cors() -> None:
    from moto.moto_server import werkzeug_app  # noqa: PLC0415 - moto loads lazily

    werkzeug_app.DISABLE_GLOBAL_CORS = True  # type: ignore[attr-defined]  # a module global, read per app


# ===================================================================================================
# moto's costs AWS does not have (performance). Each one made the sandbox, not the program it serves,
# the bottleneck of a large scale-out, under the lock every request shares (measured: docs/benchmarks.md,
# "What the benchmark changes in the emulator"). Same answers; only the work behind them changes:
#   TaggedEC2Resource.get_tags               the resource's own tags (moto scanned every tag of the Region
#                                            per resource: DescribeInstances with a tag: filter held the lock
#                                            2.6 s with 1000 instances), same entries in the same order
#   moto.ec2.utils.simple_aws_filter_to_re   cached: moto translated every filter value again for every
#                                            resource it tested (a pure function; 6 s for 50 names x 5000)
#   moto.sqs.models.unix_time(_millis)       time.time() when asked for now (moto converted a datetime to
#                                            epoch seconds twice per queued message on every send and receive)
#   DynamoDBBackend.transact_write_items     sandbox.dynamodb_fast_paths: an undo log of what the transaction
#                                            touches (moto deep-copied every table it names, once per item)
#   BaseJSONSerializer._serialize_type_structure
#                                            the same module: DynamoDB's AttributeValues rendered directly
#                                            (moto looked each of ten members up through attribute aliases)
#   AttributePicker.__call__                 each member's attribute aliases and response transformer worked out
#                                            once per kind of object and member (moto asked six alias providers
#                                            and every transformer path again for every member of every object)
#   AmiBackend.describe_images               one exact image id looked up by key (every launched instance asked
#                                            for its image through fnmatch over every AMI moto knows: 1.6 s of
#                                            a 1000-instance SetDesiredCapacity, under the lock)
# ===================================================================================================

_SPEED_PATCH = "sandbox-moto-speed"
_FILTER_PATTERNS_CACHED = 65536
# moto.sqs.models' clocks and how many of their units one second is
_SQS_CLOCKS = {"unix_time": 1.0, "unix_time_millis": 1000.0}


def _patch_speed() -> None:
    from moto.core.serialize import AttributePicker, BaseJSONSerializer  # noqa: PLC0415 - moto loads lazily
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415
    from moto.ec2 import utils as ec2_utils  # noqa: PLC0415
    from moto.ec2.models.amis import AmiBackend  # noqa: PLC0415
    from moto.ec2.models.core import TaggedEC2Resource  # noqa: PLC0415
    from moto.sqs import models as sqs_models  # noqa: PLC0415

    wrap_once(TaggedEC2Resource, "get_tags", _own_tags, _SPEED_PATCH)
    wrap_once(ec2_utils, "simple_aws_filter_to_re", functools.lru_cache(maxsize=_FILTER_PATTERNS_CACHED), _SPEED_PATCH)
    for name, scale in _SQS_CLOCKS.items():
        wrap_once(sqs_models, name, functools.partial(_now_or, scale=scale), _SPEED_PATCH)
    wrap_once(DynamoDBBackend, "transact_write_items", dynamodb_fast_paths.transact_write_items, _SPEED_PATCH)
    wrap_once(
        BaseJSONSerializer, "_serialize_type_structure", dynamodb_fast_paths.serialize_type_structure, _SPEED_PATCH
    )
    wrap_once(AttributePicker, "__call__", _aliases_worked_out_once, _SPEED_PATCH)
    wrap_once(AmiBackend, "describe_images", _image_by_id, _SPEED_PATCH)


def _own_tags(original: Callable[..., Any]) -> Callable[[Any], list[dict[str, str]]]:
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix  # noqa: PLC0415 - moto loads lazily

    def get_tags(self: Any) -> list[dict[str, str]]:
        """What ``describe_tags(filters={"resource-id": [self.id]})`` answers, read from the resource's own
        entry (``.get``: never adds an entry to moto's defaultdict)."""
        resource_id = getattr(self, "id", None)
        if not resource_id:
            return []
        resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
        tags = self.ec2_backend.tags.get(resource_id) or {}
        return [
            {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
            for key, value in list(tags.items())
        ]

    return get_tags


def _aliases_worked_out_once(original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """moto's AttributePicker.__call__, line by line, with what it works out for a member remembered: the keys its
    alias providers offer, and which response transformer path the member's path ends with. The keys depend
    only on the providers, the object's class (its name, its Meta's aliases), the member's key and its shape with
    the shape's parent (names, members, serialization); the path only on the transformers' paths (moto adds paths
    while it runs and never removes one, so their number tells them apart) and the member's path. The function
    is read at each call (moto replaces a path's function per request). Each entry keeps the objects themselves,
    so a reused id is never taken for another. An object with an alias table of its own (an instance attribute
    ``Meta``) takes moto's path."""
    from moto.core.constants import MISSING  # noqa: PLC0415 - moto loads lazily
    from moto.core.utils import get_value  # noqa: PLC0415

    keys_by_member: dict[tuple[int, type, str, int], tuple[Any, Any, Any, tuple[str, ...]]] = {}
    path_by_member_path: dict[tuple[int, int, str], tuple[Any, str | None]] = {}

    def __call__(self: Any, context: Any) -> Any:
        obj, shape = context.obj, context.shape
        if "Meta" in getattr(obj, "__dict__", ()):
            return original(self, context)
        providers, parent = self.alias_providers, getattr(shape, "parent", None)
        member = (id(providers), obj.__class__, context.key, id(shape))
        known = keys_by_member.get(member)
        if known is None or known[0] is not providers or known[1] is not shape or known[2] is not parent:
            _bounded(keys_by_member)
            known = keys_by_member[member] = (providers, shape, parent, tuple(self.get_possible_keys(context)))
        for possible_key in known[3]:
            value = get_value(obj, possible_key, MISSING)
            if value is not MISSING:
                break
        else:
            value = None
        transformers = self.response_transformers
        if not transformers:
            return value
        key_path = f"{context.key_path}.{context.key}"
        path_key = (id(transformers), len(transformers), key_path)
        chosen = path_by_member_path.get(path_key)
        if chosen is None or chosen[0] is not transformers:
            _bounded(path_by_member_path)
            first = next((path for path in transformers if key_path.endswith(path)), None)
            chosen = path_by_member_path[path_key] = (transformers, first)
        return value if chosen[1] is None else transformers[chosen[1]](value)

    return __call__


_PATTERN_CHARACTERS = frozenset("*?[")


def _image_by_id(original: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    """moto's describe_images, with the one question Instance.__init__ asks of it (``filters={"image-id": X}``,
    nothing else) answered from the AMIs' own index when X is no pattern: the images whose id fnmatch would
    match, X itself or nothing. Every other question takes moto's path."""

    def describe_images(
        self: Any,
        ami_ids: list[str] | None = None,
        filters: dict[str, Any] | None = None,
        exec_users: list[str] | None = None,
        owners: list[str] | None = None,
    ) -> list[Any]:
        wanted = (filters or {}).get("image-id")
        if (
            ami_ids
            or exec_users
            or owners
            or filters is None
            or len(filters) != 1
            or not isinstance(wanted, str)
            or _PATTERN_CHARACTERS.intersection(wanted)
        ):
            return original(self, ami_ids=ami_ids, filters=filters, exec_users=exec_users, owners=owners)
        image = self.amis.get(wanted)
        return [] if image is None else [image]

    return describe_images


_MEMO_ENTRIES = 50_000  # far more members and paths than moto's models have: a bound, not a working size


def _bounded(memo: dict[Any, Any]) -> None:
    if len(memo) >= _MEMO_ENTRIES:
        memo.clear()


def _now_or(original: Callable[..., float], scale: float) -> Callable[..., float]:
    """moto's ``unix_time``/``unix_time_millis``: now straight from ``time.time()``, a given datetime as before."""

    def unix_time(dt: datetime.datetime | None = None) -> float:
        return time.time() * scale if dt is None else original(dt)

    return unix_time


# ===================================================================================================
# EC2 realism (faults helper): private IP assigned late, eventual consistency of new instances.
# The decisions live in sandbox.faults.FaultControls; this section only wraps moto 5.2.5's methods:
#   Instance.__init__                      stamps the launch time on the sandbox clock
#   InstanceResponse.describe_instances    NotFound for young ids; omits young instances; hides IPs
#   TagResponse.create_tags                NotFound for young instance ids
# moto 5.2.5 renders DescribeInstances with its botocore-model serializer (no XML template), reading
# attributes off the Instance / NetworkInterface objects, so a view object that answers None for the
# private-IP attributes is the narrowest point. Inert while no sandbox is active or both delays are 0.
# ===================================================================================================

_EC2_PATCH = "sandbox-ec2-realism"
_LAUNCHED_AT = "_sandbox_launched_at"


def _patch_ec2_realism() -> None:
    from moto.ec2.models.instances import Instance  # noqa: PLC0415 - moto loads lazily
    from moto.ec2.responses.instances import InstanceResponse  # noqa: PLC0415
    from moto.ec2.responses.tags import TagResponse  # noqa: PLC0415

    _wrap(Instance, "__init__", _stamp_launch_time)
    _wrap(InstanceResponse, "describe_instances", _describe_instances_with_delays)
    _wrap(TagResponse, "create_tags", _create_tags_with_delays)


def _wrap(owner: type, name: str, make_wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replaces ``owner.name`` once (idempotent even under other wrappers that keep ``__wrapped__``)."""
    original = getattr(owner, name)
    layer: Any = original
    while layer is not None:
        if getattr(layer, "_sandbox_patch", None) == _EC2_PATCH:
            return
        layer = getattr(layer, "__wrapped__", None)
    wrapper = functools.wraps(original)(make_wrapper(original))
    wrapper._sandbox_patch = _EC2_PATCH  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def _active_controls() -> FaultControls | None:
    sandbox = _active
    if sandbox is None or not sandbox.controls.ec2_views_active():
        return None
    return sandbox.controls


def _stamp_launch_time(original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        sandbox = _active
        if sandbox is not None:
            setattr(self, _LAUNCHED_AT, sandbox.clock.now())

    return __init__


def _launched_at(instance: Any, clock: SandboxClock) -> float:
    """Launch time on the sandbox clock; for instances not stamped, moto's wall-clock launch_time."""
    stamped = getattr(instance, _LAUNCHED_AT, None)
    if stamped is not None:
        return float(stamped)
    launch: datetime.datetime = instance.launch_time
    if launch.tzinfo is None:
        launch = launch.replace(tzinfo=datetime.UTC)
    return clock.now() - (time.time() - launch.timestamp()) * clock.scale


def _young_instance_ids(controls: FaultControls, backend: Any, ids: list[str]) -> list[str]:
    wanted = set(ids)
    found = {instance.id: instance for instance in backend.all_instances() if instance.id in wanted}
    return [
        iid
        for iid in ids
        if iid in found and controls.instance_not_yet_visible(iid, _launched_at(found[iid], controls.clock))
    ]


def _raise_not_found(controls: FaultControls, young: list[str]) -> None:
    from moto.ec2.exceptions import InvalidInstanceIdError  # noqa: PLC0415

    controls.record_ec2_event("not_found", len(young))
    raise InvalidInstanceIdError(young)


def _describe_instances_with_delays(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def describe_instances(self: Any) -> Any:
        controls = _active_controls()
        if controls is None:
            return original(self)
        requested = self._get_param("InstanceIds", [])
        if requested:
            young = _young_instance_ids(controls, self.ec2_backend, requested)
            if young:
                _raise_not_found(controls, young)
        result = original(self)
        payload = result.result
        payload["Reservations"] = _visible_reservations(controls, payload["Reservations"])
        return result

    return describe_instances


def _visible_reservations(controls: FaultControls, reservations: list[Any]) -> list[Any]:
    shown: list[Any] = []
    for reservation in reservations:
        instances = [
            view
            for view in (_instance_view(controls, instance) for instance in reservation.instances)
            if view is not None
        ]
        if not instances:
            continue
        if len(instances) == len(reservation.instances) and all(
            a is b for a, b in zip(instances, reservation.instances, strict=True)
        ):
            shown.append(reservation)
        else:
            view = copy.copy(reservation)  # moto's own reservation keeps all its instances
            view.instances = instances
            shown.append(view)
    return shown


def _instance_view(controls: FaultControls, instance: Any) -> Any:
    """None while the instance is not visible yet; a view without private IP while that is pending."""
    launched_at = _launched_at(instance, controls.clock)
    if controls.instance_not_yet_visible(instance.id, launched_at):
        controls.record_ec2_event("omitted")
        return None
    if controls.private_ip_pending(instance.id, launched_at):
        controls.record_ec2_event("private_ip_hidden")
        return _InstanceWithoutPrivateIp(instance)
    return instance


class _View:
    """Reads through to a moto object except for what the subclass overrides; looks like its class
    to the serializer (isinstance and class-name aliases behave as for the real object)."""

    def __init__(self, wrapped: Any) -> None:
        object.__setattr__(self, "_wrapped", wrapped)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: PLW1641 - only read by the serializer
        return type(self._wrapped)


class _InstanceWithoutPrivateIp(_View):
    """An instance whose private IP is not assigned yet, as DescribeInstances shows it."""

    private_ip = None
    private_ip_address = None
    private_dns_name = None

    @property
    def network_interfaces(self) -> list[Any]:
        primary = self._wrapped.nics.get(0)
        return [
            _NetworkInterfaceWithoutPrivateIp(nic) if nic is primary else nic
            for nic in self._wrapped.network_interfaces
        ]


class _NetworkInterfaceWithoutPrivateIp(_View):
    private_ip_address = None
    private_dns_name = None

    @property
    def instance_private_ip_address_list(self) -> list[dict[str, Any]] | None:
        primary_ip = self._wrapped.private_ip_address
        rest = [
            item
            for item in self._wrapped.instance_private_ip_address_list
            if not item.get("Primary") and item.get("PrivateIpAddress") != primary_ip
        ]
        return rest or None


def _create_tags_with_delays(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def create_tags(self: Any) -> Any:
        controls = _active_controls()
        if controls is not None:
            instance_ids = [rid for rid in self._get_param("Resources", []) if str(rid).startswith("i-")]
            young = _young_instance_ids(controls, self.ec2_backend, instance_ids) if instance_ids else []
            if young:
                _raise_not_found(controls, young)
        return original(self)

    return create_tags


# ===================================================================================================
# Lifecycle hooks (lifecycle-hook helper). The behaviour lives in sandbox.lifecycle.LifecycleEngine
# (the running sandbox's ``lifecycle``); this section only wires moto 5.2.5 to it:
#   LifecycleHook.__init__                                  no hardcoded RoleARN / NotificationTargetARN
#   AutoScalingResponse.put_lifecycle_hook                  keeps every field, validates, test message
#   AutoScalingResponse.create_auto_scaling_group           LifecycleHookSpecificationList before launch
#   AutoScalingResponse.complete_lifecycle_action           new action
#   AutoScalingResponse.record_lifecycle_action_heartbeat   new action
#   FakeAutoScalingGroup.active_instances                   Pending:Wait counts toward capacity
#   FakeAutoScalingGroup.replace_autoscaling_group_instances  launches wait in Pending:Wait + messages
#   AutoScalingBackend.delete_lifecycle_hook                open actions of the hook end with ABANDON
#   AutoScalingBackend.delete_auto_scaling_group            the group's hooks go with it
#   FakeAutoScalingGroup.set_desired_capacity               scale-in is journaled, with its activities
#   AutoScalingBackend.terminate_instance                   TerminateInstanceInAutoScalingGroup, the same
#   AutoScalingBackend.notify_terminate_instances           EC2 TerminateInstances of a group's instance, the same
#   AutoScalingResponse.describe_scaling_activities         the engine's activities (moto answers an empty list)
# Without an active sandbox the wrappers behave as moto does (the two new actions answer ValidationError).
# ===================================================================================================

_LIFECYCLE_PATCH = "sandbox-lifecycle"


def _patch_lifecycle() -> None:
    from moto.autoscaling.models import (  # noqa: PLC0415 - moto loads lazily
        AutoScalingBackend,
        FakeAutoScalingGroup,
        LifecycleHook,
    )
    from moto.autoscaling.responses import AutoScalingResponse  # noqa: PLC0415

    _wrap_lifecycle(LifecycleHook, "__init__", _lifecycle_hook_init)
    _wrap_lifecycle(AutoScalingResponse, "put_lifecycle_hook", _put_lifecycle_hook)
    _wrap_lifecycle(AutoScalingResponse, "create_auto_scaling_group", _create_auto_scaling_group)
    _wrap_lifecycle(AutoScalingResponse, "complete_lifecycle_action", _complete_lifecycle_action)
    _wrap_lifecycle(AutoScalingResponse, "record_lifecycle_action_heartbeat", _record_lifecycle_action_heartbeat)
    _wrap_lifecycle(FakeAutoScalingGroup, "active_instances", _active_instances)
    _wrap_lifecycle(FakeAutoScalingGroup, "replace_autoscaling_group_instances", _replace_instances)
    _wrap_lifecycle(AutoScalingBackend, "delete_lifecycle_hook", _delete_lifecycle_hook)
    _wrap_lifecycle(AutoScalingBackend, "delete_auto_scaling_group", _delete_auto_scaling_group)
    _wrap_lifecycle(FakeAutoScalingGroup, "set_desired_capacity", _set_desired_capacity)
    _wrap_lifecycle(AutoScalingBackend, "terminate_instance", _terminate_instance)
    _wrap_lifecycle(AutoScalingBackend, "notify_terminate_instances", _notify_terminate_instances)
    _wrap_lifecycle(AutoScalingResponse, "describe_scaling_activities", _describe_scaling_activities)


def _wrap_lifecycle(
    owner: type, name: str, make_wrapper: Callable[[Callable[..., Any] | None], Callable[..., Any]]
) -> None:
    """Replaces (or adds) ``owner.name`` once; applying twice is harmless."""
    original = getattr(owner, name, None)
    layer: Any = original
    while layer is not None:
        if getattr(layer, "_sandbox_patch", None) == _LIFECYCLE_PATCH:
            return
        layer = getattr(layer, "__wrapped__", None)
    wrapper = make_wrapper(original)
    if original is not None:
        wrapper = functools.wraps(original)(wrapper)
    wrapper._sandbox_patch = _LIFECYCLE_PATCH  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def _lifecycle_engine() -> LifecycleEngine | None:
    """The running sandbox's LifecycleEngine, or None."""
    return _active.lifecycle if _active is not None else None


def _lifecycle_hook_init(original: Callable[..., None] | None) -> Callable[..., None]:
    assert original is not None

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        from sandbox.lifecycle_hooks import global_timeout  # noqa: PLC0415

        original(self, *args, **kwargs)
        self.role_arn = None
        self.notification_target_arn = None
        self.notification_metadata = None
        self.global_timeout = global_timeout(self.heartbeat_timeout)

    return __init__


def _put_lifecycle_hook(original: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    assert original is not None

    def put_lifecycle_hook(self: Any) -> Any:
        engine = _lifecycle_engine()
        if engine is None:
            return original(self)
        from moto.core.responses import EmptyResult  # noqa: PLC0415

        engine.put_lifecycle_hook(
            self.autoscaling_backend,
            group_name=self._get_param("AutoScalingGroupName"),
            hook_name=self._get_param("LifecycleHookName"),
            transition=self._get_param("LifecycleTransition"),
            role_arn=self._get_param("RoleARN"),
            target_arn=self._get_param("NotificationTargetARN"),
            metadata=self._get_param("NotificationMetadata"),
            heartbeat_timeout=self._get_int_param("HeartbeatTimeout"),
            default_result=self._get_param("DefaultResult"),
        )
        return EmptyResult()

    return put_lifecycle_hook


def _create_auto_scaling_group(original: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    assert original is not None

    def create_auto_scaling_group(self: Any) -> Any:
        engine = _lifecycle_engine()
        if engine is None:
            return original(self)
        with engine.creating_group(
            self.autoscaling_backend,
            self._get_param("AutoScalingGroupName"),
            self._get_param("LifecycleHookSpecificationList", []),
        ):
            return original(self)

    return create_auto_scaling_group


def _no_engine() -> Exception:
    from moto.autoscaling.exceptions import ValidationError  # noqa: PLC0415

    return ValidationError("Lifecycle actions are emulated only while a sandbox is running")


def _complete_lifecycle_action(original: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    def complete_lifecycle_action(self: Any) -> Any:
        engine = _lifecycle_engine()
        if engine is None:
            raise _no_engine()
        from moto.core.responses import EmptyResult  # noqa: PLC0415

        engine.complete_lifecycle_action(
            self.autoscaling_backend,
            group_name=self._get_param("AutoScalingGroupName"),
            hook_name=self._get_param("LifecycleHookName"),
            result=self._get_param("LifecycleActionResult"),
            token=self._get_param("LifecycleActionToken"),
            instance_id=self._get_param("InstanceId"),
        )
        return EmptyResult()

    return complete_lifecycle_action


def _record_lifecycle_action_heartbeat(original: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    def record_lifecycle_action_heartbeat(self: Any) -> Any:
        engine = _lifecycle_engine()
        if engine is None:
            raise _no_engine()
        from moto.core.responses import EmptyResult  # noqa: PLC0415

        engine.record_lifecycle_action_heartbeat(
            self.autoscaling_backend,
            group_name=self._get_param("AutoScalingGroupName"),
            hook_name=self._get_param("LifecycleHookName"),
            token=self._get_param("LifecycleActionToken"),
            instance_id=self._get_param("InstanceId"),
        )
        return EmptyResult()

    return record_lifecycle_action_heartbeat


def _active_instances(original: Callable[[Any], Any] | None) -> Callable[[Any], list[Any]]:
    def active_instances(self: Any) -> list[Any]:
        # moto counts only InService, so a scale-out while launches wait would launch them again.
        return [s for s in self.instance_states if s.lifecycle_state in ("InService", "Pending", "Pending:Wait")]

    return active_instances


def _replace_instances(original: Callable[..., None] | None) -> Callable[..., None]:
    assert original is not None

    def replace_autoscaling_group_instances(self: Any, *args: Any, **kwargs: Any) -> None:
        before = {id(state) for state in self.instance_states}
        original(self, *args, **kwargs)
        engine = _lifecycle_engine()
        if engine is not None:
            engine.on_instances_launched(self, [s for s in self.instance_states if id(s) not in before])

    return replace_autoscaling_group_instances


def _delete_lifecycle_hook(original: Callable[..., None] | None) -> Callable[..., None]:
    assert original is not None

    def delete_lifecycle_hook(self: Any, as_name: str, name: str) -> None:
        original(self, as_name, name)
        engine = _lifecycle_engine()
        if engine is not None:
            engine.on_hook_deleted(self, as_name, name)

    return delete_lifecycle_hook


def _delete_auto_scaling_group(original: Callable[..., None] | None) -> Callable[..., None]:
    assert original is not None

    def delete_auto_scaling_group(self: Any, group_name: str) -> None:
        original(self, group_name)
        engine = _lifecycle_engine()
        if engine is not None:
            engine.on_group_deleted(self, group_name)

    return delete_auto_scaling_group


def _set_desired_capacity(original: Callable[..., None] | None) -> Callable[..., None]:
    assert original is not None

    def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
        before = list(self.instance_states)
        original(self, new_capacity)
        engine = _lifecycle_engine()
        if engine is not None:
            kept = {id(state) for state in self.instance_states}
            engine.on_instances_removed(self, [s for s in before if id(s) not in kept], "scale-in")

    return set_desired_capacity


def _terminate_instance(original: Callable[..., Any] | None) -> Callable[..., Any]:
    assert original is not None

    def terminate_instance(self: Any, instance_id: str, should_decrement: bool) -> Any:
        engine = _lifecycle_engine()
        if engine is not None:
            for group in list(self.autoscaling_groups.values()):
                states = [s for s in group.instance_states if s.instance.id == instance_id]
                engine.on_instances_removed(group, states, "terminate-in-group", decrement=should_decrement)
        return original(self, instance_id, should_decrement)

    return terminate_instance


def _notify_terminate_instances(original: Callable[..., None] | None) -> Callable[..., None]:
    assert original is not None

    def notify_terminate_instances(self: Any, instance_ids: list[str]) -> None:
        engine = _lifecycle_engine()
        if engine is not None:
            wanted = set(instance_ids)
            for group in list(self.autoscaling_groups.values()):
                states = [s for s in group.instance_states if s.instance.id in wanted]
                engine.on_instances_removed(group, states, "external")
        original(self, instance_ids)

    return notify_terminate_instances


def _describe_scaling_activities(original: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    assert original is not None

    def describe_scaling_activities(self: Any) -> Any:
        engine = _lifecycle_engine()
        if engine is None:
            return original(self)
        from moto.core.responses import ActionResult  # noqa: PLC0415

        backend = self.autoscaling_backend
        activities, token = engine.activities.describe(
            backend.account_id,
            backend.region_name,
            live_group_arns={group.arn for group in backend.autoscaling_groups.values()},
            group_name=self._get_param("AutoScalingGroupName"),
            activity_ids=self._get_param("ActivityIds", []),
            include_deleted_groups=bool(self._get_bool_param("IncludeDeletedGroups", False)),
            max_records=self._get_int_param("MaxRecords"),
            next_token=self._get_param("NextToken"),
        )
        result: dict[str, Any] = {"Activities": activities}
        if token is not None:
            result["NextToken"] = token
        return ActionResult(result)

    return describe_scaling_activities


# ===================================================================================================
# CloudFormation change sets (deploy helper). moto 5.2.5's execute_change_set creates or updates the
# resources but keeps the template and output map the stack had before (for CREATE: an empty template),
# so DescribeStacks answers no Outputs after a change set (CreateStack has them; ExecuteChangeSet not):
#   CloudFormationBackend.execute_change_set     recomputes the stack's outputs once it has run
# ===================================================================================================

_CLOUDFORMATION_PATCH = "sandbox-cloudformation"


def _patch_cloudformation() -> None:
    from moto.cloudformation.models import CloudFormationBackend  # noqa: PLC0415 - moto loads lazily

    original = CloudFormationBackend.execute_change_set
    if getattr(original, "_sandbox_patch", None) == _CLOUDFORMATION_PATCH:
        return

    @functools.wraps(original)
    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        for stack in self.stacks.values():
            if stack_name in (stack.name, stack.stack_id):
                stack._parse_template()  # a CREATE change set's stack was made from an empty template
                stack.description = stack.template_dict.get("Description")
                stack.output_map = stack._create_output_map()

    execute_change_set._sandbox_patch = _CLOUDFORMATION_PATCH  # type: ignore[attr-defined]
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]
