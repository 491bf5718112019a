"""Structured logging and EMF metrics: the names here are the ones the dashboard and alarms use."""

from __future__ import annotations

import io
import sys
import threading
from enum import StrEnum
from typing import IO, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

DEFAULT_SERVICE = "asg-namer"
DEFAULT_NAMESPACE = "AsgNamer"


class Metric(StrEnum):
    """Every metric the handler emits; infra and tests read this list, never a copy of it."""

    INSTANCES_NAMED = "InstancesNamed"
    INSTANCES_ALREADY_NAMED = "InstancesAlreadyNamed"
    NAMING_FAILED = "NamingFailed"
    LIFECYCLE_ACTIONS_COMPLETED = "LifecycleActionsCompleted"
    ACTION_ALREADY_COMPLETED = "ActionAlreadyCompleted"
    INSTANCES_GONE = "InstancesGone"
    RECORDS_RETRIED = "RecordsRetried"
    MALFORMED_MESSAGES = "MalformedMessages"
    TEST_NOTIFICATIONS = "TestNotifications"
    NON_LAUNCH_TRANSITIONS = "NonLaunchTransitions"
    NAMING_SECONDS = "NamingSeconds"
    HOOK_TO_COMPLETE_SECONDS = "HookToCompleteSeconds"


SECONDS_METRICS = frozenset({Metric.NAMING_SECONDS, Metric.HOOK_TO_COMPLETE_SECONDS})


class _CurrentStdout(io.TextIOBase):
    """Writes to sys.stdout as it is at write time, so a test or the trigger emulator can capture the logs."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


# The service name comes from the settings (use_service_name); the environment is read in config.py only.
logger = Logger(service=DEFAULT_SERVICE, stream=cast("IO[str]", _CurrentStdout()))


def use_service_name(service: str) -> None:
    """Every log line carries the configured service name (POWERTOOLS_SERVICE_NAME, validated in config.py)."""
    logger.append_keys(service=service)


def new_metrics(namespace: str, service: str) -> EphemeralMetrics:
    """Metrics owned by one execution environment (EphemeralMetrics shares nothing with other instances)."""
    return EphemeralMetrics(namespace=namespace, service=service)


_metrics_lock = threading.Lock()


def count(metrics: EphemeralMetrics, metric: Metric, value: float = 1) -> None:
    """Adds a data point; the lock matters because a batch's records are worked on in threads."""
    unit = MetricUnit.Seconds if metric in SECONDS_METRICS else MetricUnit.Count
    with _metrics_lock:
        metrics.add_metric(name=metric.value, unit=unit, value=value)
