"""What a cold start of the handler costs: import-and-init time against ``import boto3`` alone, and the
peak memory of handling one batch. Each is measured in fresh processes running ``bench.probes``."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bench.config import ASG_NAMER
from sandbox.event_source_mapping import sqs_event_record
from scenarios import build_world, clients

if TYPE_CHECKING:
    from sandbox.server import Sandbox

HANDLER_MODULE = "handler.app"


def cold_start(repetitions: int, env: Mapping[str, str]) -> dict[str, Any]:
    """Fresh-process import and initialisation of handler.app against ``import boto3`` alone (medians)."""
    timings: dict[str, list[float]] = {HANDLER_MODULE: [], "boto3": []}
    child_env = _python_env(env)
    for _ in range(repetitions):
        for module in ("boto3", HANDLER_MODULE):  # interleaved, so machine noise hits both alike
            timings[module].append(_probe(["import-time", module], child_env)["seconds"])
    init = statistics.median(timings[HANDLER_MODULE])
    boto3_only = statistics.median(timings["boto3"])
    return {
        "repetitions": repetitions,
        "init_seconds": round(init, 4),
        "import_boto3_seconds": round(boto3_only, 4),
        "init_over_boto3": round(init / boto3_only, 3),
        "init_samples": [round(s, 4) for s in timings[HANDLER_MODULE]],
        "boto3_samples": [round(s, 4) for s in timings["boto3"]],
    }


def peak_memory(sandbox: Sandbox, env: Mapping[str, str], records: int = 10) -> dict[str, Any]:
    """A fresh process imports handler.app and handles one batch of ``records`` real hook messages
    against this sandbox; VmHWM is the process's peak RSS (what Lambda reports as Max Memory Used)."""
    world = build_world(f"bench-memory-{uuid.uuid4().hex[:6]}", endpoint_url=sandbox.endpoint_url)
    aws = clients(sandbox.endpoint_url)
    aws["autoscaling"].set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=records)
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(messages) < records and time.monotonic() < deadline:
        got = (
            aws["sqs"]
            .receive_message(
                QueueUrl=world.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=120
            )
            .get("Messages", [])
        )
        messages += [m for m in got if "EC2InstanceId" in m["Body"]]
    event = {"Records": [sqs_event_record(m, world.queue_arn) for m in messages[:records]]}
    child_env = _python_env({**env, "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"})
    probe = _probe(["memory", HANDLER_MODULE, ASG_NAMER], child_env, stdin=json.dumps(event))
    return {
        "batch_records": len(event["Records"]),
        "batch_failures": probe["failures"],
        "peak_rss_mb": round(probe["maxrss_kb"] / 1024, 1),
        "batch_tracemalloc_peak_mb": round(probe["tracemalloc_peak_bytes"] / 1024 / 1024, 2),
    }


def _probe(args: list[str], env: Mapping[str, str], stdin: str | None = None) -> dict[str, Any]:
    """Runs ``python -m bench.probes ARGS`` and returns the JSON object it prints last."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.probes", *args],
        input=stdin,
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _python_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without its AWS and Powertools settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(extra)
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env
