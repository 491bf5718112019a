"""What a cold start of the handler costs: import-and-init time against ``import boto3`` alone, the cold path
(import, init and a first batch of one record) against a plain boto3 script making the same three calls, and
the peak memory of handling one batch. Each is measured in fresh processes running ``bench.probes``."""

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
from scenarios import World, build_world, clients

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


def cold_path(sandbox: Sandbox, env: Mapping[str, str], repetitions: int) -> dict[str, Any]:
    """Fresh processes, interleaved: handler.app imported and handed a one-record batch of a real hook message,
    against a plain boto3 script making the same three calls for another instance; medians. The sandbox's
    latency stays as configured (the handler's path makes more calls than the script's: they are counted)."""
    world, messages = _launched(sandbox, "bench-coldpath", 2 * repetitions)
    child_env = _python_env(env)
    samples: dict[str, list[dict[str, Any]]] = {ASG_NAMER: [], "boto3": []}
    calls: dict[str, list[str]] = {ASG_NAMER: [], "boto3": []}
    for index in range(repetitions):
        ours, plain = messages[2 * index], messages[2 * index + 1]
        runs = [
            (
                ASG_NAMER,
                ["cold-path", HANDLER_MODULE, ASG_NAMER],
                {"Records": [sqs_event_record(ours, world.queue_arn)]},
            ),
            ("boto3", ["plain-path"], json.loads(plain["Body"])),
        ]
        for name, args, payload in runs if index % 2 == 0 else reversed(runs):  # machine noise hits both alike
            mark = len(sandbox.journal.records())
            samples[name].append(_probe(args, child_env, stdin=json.dumps(payload)))
            calls[name] = [r.action for r in sandbox.journal.records()[mark:] if r.service in ("ec2", "autoscaling")]
    ours_seconds = statistics.median(s["seconds"] for s in samples[ASG_NAMER])
    plain_seconds = statistics.median(s["seconds"] for s in samples["boto3"])
    return {
        "repetitions": repetitions,
        "latency_ms": sandbox.controls.active_faults().get("latency", {}).get("base_ms", 0.0),
        "handler_seconds": round(ours_seconds, 4),
        "handler_import_seconds": round(statistics.median(s["import_seconds"] for s in samples[ASG_NAMER]), 4),
        "handler_batch_seconds": round(statistics.median(s["batch_seconds"] for s in samples[ASG_NAMER]), 4),
        "handler_failures": sum(s["failures"] for s in samples[ASG_NAMER]),
        "plain_seconds": round(plain_seconds, 4),
        "handler_over_plain": round(ours_seconds / plain_seconds, 3),
        "handler_calls": calls[ASG_NAMER],
        "plain_calls": calls["boto3"],
        "handler_samples": [round(s["seconds"], 4) for s in samples[ASG_NAMER]],
        "plain_samples": [round(s["seconds"], 4) for s in samples["boto3"]],
    }


def peak_memory(sandbox: Sandbox, env: Mapping[str, str], records: int = 10) -> dict[str, Any]:
    """A fresh process imports handler.app and handles one batch of ``records`` real hook messages
    against this sandbox; VmHWM is the process's peak RSS (what Lambda reports as Max Memory Used)."""
    world, messages = _launched(sandbox, "bench-memory", records)
    event = {"Records": [sqs_event_record(m, world.queue_arn) for m in messages]}
    child_env = _python_env({**env, "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"})
    probe = _probe(["memory", HANDLER_MODULE, ASG_NAMER], child_env, stdin=json.dumps(event))
    return {
        "batch_records": len(event["Records"]),
        "batch_failures": probe["failures"],
        "peak_rss_mb": round(probe["maxrss_kb"] / 1024, 1),
        "batch_tracemalloc_peak_mb": round(probe["tracemalloc_peak_bytes"] / 1024 / 1024, 2),
    }


def _launched(sandbox: Sandbox, prefix: str, count: int) -> tuple[World, list[dict[str, Any]]]:
    """A fresh world with ``count`` instances waiting in Pending:Wait, and their hook messages (received,
    hidden for two minutes, so nothing else handles them)."""
    world = build_world(f"{prefix}-{uuid.uuid4().hex[:6]}", endpoint_url=sandbox.endpoint_url)
    aws = clients(sandbox.endpoint_url)
    aws["autoscaling"].set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=count)
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(messages) < count and time.monotonic() < deadline:
        got = (
            aws["sqs"]
            .receive_message(
                QueueUrl=world.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=120
            )
            .get("Messages", [])
        )
        messages += [m for m in got if "EC2InstanceId" in m["Body"]]
    if len(messages) < count:
        raise RuntimeError(f"only {len(messages)} of {count} hook messages arrived within 30 s")
    return world, messages[:count]


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
