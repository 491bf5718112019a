"""Probes that run in a fresh Python process, as a Lambda cold start does (``bench.footprint`` starts them).

``python -m bench.probes import-time MODULE``
    prints ``{"seconds": S}``: how long importing MODULE takes (for ``handler.app`` that includes its
    initialisation: settings, boto3 clients).
``python -m bench.probes memory MODULE FUNCTION_NAME``
    imports MODULE, hands the SQS event read from stdin to its ``lambda_handler`` with a Lambda context,
    and prints the process's peak RSS, the batch's tracemalloc peak and how many records failed.

Before the measured import only the standard library is loaded (and, for the memory probe,
``sandbox.lambda_context``, which is pure Python: no moto in this process).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from typing import Any

USAGE = "usage: python -m bench.probes import-time MODULE | memory MODULE FUNCTION_NAME  (event on stdin)"


def import_time(module: str) -> dict[str, Any]:
    started = time.perf_counter()
    importlib.import_module(module)
    return {"seconds": time.perf_counter() - started}


def memory(module: str, function_name: str, event: dict[str, Any]) -> dict[str, Any]:
    import resource  # noqa: PLC0415 - only this probe needs them
    import tracemalloc  # noqa: PLC0415

    from sandbox.lambda_context import LambdaContext  # noqa: PLC0415

    handler = importlib.import_module(module).lambda_handler
    context = LambdaContext(
        function_name=function_name,
        aws_request_id="memory-probe",
        log_stream_name="memory-probe",
        timeout_seconds=60,
    )
    tracemalloc.start()
    response = handler(event, context)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "maxrss_kb": _peak_rss_kb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "tracemalloc_peak_bytes": peak,
        "failures": len(response.get("batchItemFailures") or []),
    }


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
    else:
        print(USAGE, file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
