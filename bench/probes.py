"""Probes that run in a fresh Python process, as a Lambda cold start does (``bench.footprint`` starts them).

``python -m bench.probes import-time MODULE``
    prints ``{"seconds": S}``: how long importing MODULE takes (for ``handler.app`` that includes its
    initialisation: settings, boto3 clients).
``python -m bench.probes memory MODULE FUNCTION_NAME``
    imports MODULE, hands the SQS event read from stdin to its ``lambda_handler`` with a Lambda context,
    and prints the process's peak RSS, the batch's tracemalloc peak and how many records failed.
``python -m bench.probes cold-path MODULE FUNCTION_NAME``
    the cold path: imports MODULE (its initialisation included) and hands it the SQS event read from stdin
    (one record), timed together; prints ``{"seconds", "import_seconds", "batch_seconds", "failures"}``.
``python -m bench.probes plain-path``
    what a plain boto3 script does on the same path from a fresh process: ``import boto3``, two clients,
    DescribeInstances, CreateTags and CompleteLifecycleAction for the lifecycle message read from stdin;
    prints ``{"seconds"}``.

Before the measured import only the standard library is loaded (and, for the memory and cold-path probes,
``sandbox.lambda_context``, which is pure Python: no moto in this process).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from typing import Any

USAGE = (
    "usage: python -m bench.probes import-time MODULE | memory MODULE FUNCTION_NAME | "
    "cold-path MODULE FUNCTION_NAME | plain-path  (event or message on stdin)"
)


def import_time(module: str) -> dict[str, Any]:
    started = time.perf_counter()
    importlib.import_module(module)
    return {"seconds": time.perf_counter() - started}


def memory(module: str, function_name: str, event: dict[str, Any]) -> dict[str, Any]:
    import resource  # noqa: PLC0415 - only this probe needs them
    import tracemalloc  # noqa: PLC0415

    context = _context(function_name, "memory-probe")
    handler = importlib.import_module(module).lambda_handler
    tracemalloc.start()
    response = handler(event, context)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "maxrss_kb": _peak_rss_kb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "tracemalloc_peak_bytes": peak,
        "failures": len(response.get("batchItemFailures") or []),
    }


def cold_path(module: str, function_name: str, event: dict[str, Any]) -> dict[str, Any]:
    context = _context(function_name, "cold-path-probe")
    started = time.perf_counter()
    handler = importlib.import_module(module).lambda_handler
    imported = time.perf_counter()
    response = handler(event, context)
    finished = time.perf_counter()
    return {
        "seconds": finished - started,
        "import_seconds": imported - started,
        "batch_seconds": finished - imported,
        "failures": len(response.get("batchItemFailures") or []),
    }


def plain_path(message: dict[str, Any]) -> dict[str, Any]:
    """The same three calls from a plain script: the smallest a fresh process can do on this path."""
    started = time.perf_counter()
    import boto3  # noqa: PLC0415 - its import is what is measured

    ec2, autoscaling = boto3.client("ec2"), boto3.client("autoscaling")
    instance_id = message["EC2InstanceId"]
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "Name", "Value": f"plain-{instance['PrivateIpAddress']}"}])
    autoscaling.complete_lifecycle_action(
        AutoScalingGroupName=message["AutoScalingGroupName"],
        LifecycleHookName=message["LifecycleHookName"],
        LifecycleActionToken=message["LifecycleActionToken"],
        LifecycleActionResult="CONTINUE",
    )
    return {"seconds": time.perf_counter() - started}


def _context(function_name: str, request_id: str) -> Any:
    """A Lambda context, built before the measured part begins."""
    from sandbox.lambda_context import LambdaContext  # noqa: PLC0415 - pure Python, no moto

    return LambdaContext(
        function_name=function_name, aws_request_id=request_id, log_stream_name=request_id, timeout_seconds=60
    )


def _peak_rss_kb(ru_maxrss: int) -> int:
    """VmHWM: this process's own peak RSS. ru_maxrss (the fallback) would not do on Linux: it is kept
    across fork + exec, so it starts at the parent's (moto-sized) RSS."""
    with open("/proc/self/status") as status:
        hwm = [line.split()[1] for line in status if line.startswith("VmHWM:")]
    return int(hwm[0]) if hwm else ru_maxrss


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "import-time":
        result = import_time(argv[1])
    elif len(argv) == 3 and argv[0] == "memory":
        result = memory(argv[1], argv[2], json.load(sys.stdin))
    elif len(argv) == 3 and argv[0] == "cold-path":
        result = cold_path(argv[1], argv[2], json.load(sys.stdin))
    elif argv == ["plain-path"]:
        result = plain_path(json.load(sys.stdin))
    else:
        print(USAGE, file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
