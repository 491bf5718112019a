"""Lifecycle hook settings as Auto Scaling validates them, and the errors it answers.

PutLifecycleHook and the LifecycleHookSpecificationList of CreateAutoScalingGroup accept the same
settings with the same limits; :func:`validated_settings` is that one check, so both calls of
:class:`sandbox.lifecycle.LifecycleEngine` refuse the same values with the same messages.
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import LifecycleHook

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
TRANSITIONS = (LAUNCHING, TERMINATING)
RESULTS = ("CONTINUE", "ABANDON")
DEFAULT_HEARTBEAT_TIMEOUT = 3600
MIN_HEARTBEAT_TIMEOUT = 30
MAX_HEARTBEAT_TIMEOUT = 7200
MAX_GLOBAL_TIMEOUT = 172800  # 48 hours
MAX_METADATA_LENGTH = 1023


def global_timeout(heartbeat_timeout: int) -> int:
    """The longest an instance can wait in a lifecycle action, heartbeats or not."""
    return min(MAX_GLOBAL_TIMEOUT, 100 * heartbeat_timeout)


def new_hook(name: str, group_name: str, settings: dict[str, Any]) -> LifecycleHook:
    """A moto LifecycleHook carrying every validated setting (moto's constructor keeps only some)."""
    hook = LifecycleHook(name, group_name, None, None, None)
    hook.__dict__.update(settings)
    return hook


def missing_member(member: str) -> ValidationError:
    return ValidationError(
        f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    )


def required_names(group_name: str | None, hook_name: str | None) -> tuple[str, str]:
    """Both lifecycle-action calls name the group and the hook; the hook is checked first, as before."""
    if not hook_name:
        raise missing_member("lifecycleHookName")
    if not group_name:
        raise missing_member("autoScalingGroupName")
    return group_name, hook_name


def hook_key(group_name: str, hook_name: str) -> str:
    return f"{group_name}_{hook_name}"  # moto's own key for AutoScalingBackend.lifecycle_hooks


def group_not_found(group_name: str) -> ValidationError:
    return ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{group_name}' not found")


def publish_failure(target_arn: str, role_arn: str | None) -> ValidationError:
    return ValidationError(
        f"Unable to publish test message to notification target {target_arn} using IAM role {role_arn}. "
        "Please check your target and role configuration and try to put lifecycle hook again."
    )


def validated_settings(
    existing: LifecycleHook | None,
    *,
    transition: str | None,
    role_arn: str | None,
    target_arn: str | None,
    metadata: str | None,
    heartbeat_timeout: int | None,
    default_result: str | None,
) -> dict[str, Any]:
    """The hook's settings after this put: given values win, unspecified ones keep what the hook had."""
    if transition is None:
        if existing is None or existing.lifecycle_transition is None:
            raise ValidationError("LifecycleTransition is required when creating a lifecycle hook")
        transition = existing.lifecycle_transition
    if transition not in TRANSITIONS:
        raise ValidationError(
            f"Invalid LifecycleTransition '{transition}'; valid values are {' and '.join(TRANSITIONS)}"
        )
    if heartbeat_timeout is None:
        heartbeat_timeout = existing.heartbeat_timeout if existing is not None else DEFAULT_HEARTBEAT_TIMEOUT
    if heartbeat_timeout < MIN_HEARTBEAT_TIMEOUT:
        raise ValidationError(
            f"1 validation error detected: Value '{heartbeat_timeout}' at 'heartbeatTimeout' failed to satisfy "
            f"constraint: Member must have value greater than or equal to {MIN_HEARTBEAT_TIMEOUT}"
        )
    if heartbeat_timeout > MAX_HEARTBEAT_TIMEOUT:
        raise ValidationError(
            f"1 validation error detected: Value '{heartbeat_timeout}' at 'heartbeatTimeout' failed to satisfy "
            f"constraint: Member must have value less than or equal to {MAX_HEARTBEAT_TIMEOUT}"
        )
    if default_result is None:
        default_result = existing.default_result if existing is not None else "ABANDON"
    if default_result not in RESULTS:
        raise ValidationError(f"Invalid DefaultResult '{default_result}'; valid values are CONTINUE and ABANDON")
    if metadata is None:
        metadata = getattr(existing, "notification_metadata", None)
    if metadata is not None and len(metadata) > MAX_METADATA_LENGTH:
        raise ValidationError(
            "1 validation error detected: Value at 'notificationMetadata' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_METADATA_LENGTH}"
        )
    if target_arn is None:
        target_arn = getattr(existing, "notification_target_arn", None)
    if role_arn is None:
        role_arn = getattr(existing, "role_arn", None)
    if target_arn == "":  # an empty string removes the target (documented for PutLifecycleHook)
        target_arn = None
    if target_arn and not role_arn:
        raise ValidationError("RoleARN is required for a lifecycle hook with a NotificationTargetARN")
    return {
        "lifecycle_transition": transition,
        "heartbeat_timeout": int(heartbeat_timeout),
        "global_timeout": global_timeout(int(heartbeat_timeout)),
        "default_result": default_result,
        "notification_metadata": metadata or None,
        "notification_target_arn": target_arn,
        "role_arn": role_arn,
    }
