"""What Lambda's runtime gives a function that the trigger emulator needs: execution environments and logs.

Each execution environment runs the handler module's initialisation afresh (module-level code, as in
a cold start), so concurrent invocations never share a BatchProcessor, and an initialisation error is
an invocation error that the next invocation tries again.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO

Handler = Callable[[dict[str, Any], Any], Any]

_environment_numbers = itertools.count(1)


def environment_factory(module: str, attribute: str = "lambda_handler") -> Callable[[], Handler]:
    """A factory the trigger calls once per execution environment; each call is one cold start of the
    function whose handler is ``module.attribute`` (the Handler setting of the function, split at the
    last dot)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"cannot find handler module {module!r}")
    origin = spec.origin

    def cold_start() -> Handler:
        name = f"{module}__env{next(_environment_numbers)}"
        env_spec = importlib.util.spec_from_file_location(name, origin)
        if env_spec is None or env_spec.loader is None:
            raise ImportError(f"cannot load {origin}")
        instance = importlib.util.module_from_spec(env_spec)
        env_spec.loader.exec_module(instance)
        handler: Handler = getattr(instance, attribute)
        return handler

    return cold_start


class FunctionLogs(io.TextIOBase):
    """The function's log stream (CloudWatch Logs, in effect): every line kept, EMF metrics summed."""

    def __init__(self, echo: TextIO | None = None) -> None:
        self._lock = threading.Lock()
        self._partial = ""
        self._lines: list[str] = []
        self._totals: dict[str, float] = {}
        self._samples: dict[str, list[float]] = {}
        self._echo = echo

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._partial += text
            *complete, self._partial = self._partial.split("\n")
            for line in complete:
                self._take(line)
        if self._echo is not None:
            self._echo.write(text)
        return len(text)

    def _take(self, line: str) -> None:
        self._lines.append(line)
        if '"_aws"' not in line:
            return
        try:
            blob = json.loads(line)
            directives = blob["_aws"]["CloudWatchMetrics"]
        except (ValueError, KeyError, TypeError):
            return
        for directive in directives:
            for metric in directive.get("Metrics", []):
                values = blob.get(metric["Name"], [])
                values = values if isinstance(values, list) else [values]
                self._samples.setdefault(metric["Name"], []).extend(float(v) for v in values)
                self._totals[metric["Name"]] = self._totals.get(metric["Name"], 0.0) + sum(float(v) for v in values)

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def metric_totals(self) -> dict[str, float]:
        with self._lock:
            return dict(self._totals)

    def metric_samples(self, name: str) -> list[float]:
        with self._lock:
            return list(self._samples.get(name, []))

    def json_lines(self) -> list[dict[str, Any]]:
        parsed = []
        for line in self.lines():
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    parsed.append(value)
        return parsed


@contextlib.contextmanager
def environment(overrides: Mapping[str, str]) -> Iterator[None]:
    """Sets environment variables (the function's configuration, the sandbox's endpoint) and restores them."""
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def capture_function_output(logs: FunctionLogs) -> Iterator[FunctionLogs]:
    """Sends what the function prints (Powertools logs and EMF) to ``logs`` instead of the terminal.

    Powertools' Logger binds sys.stdout when it is created, so the handler must be initialised inside.
    """
    saved = sys.stdout
    sys.stdout = logs
    try:
        yield logs
    finally:
        sys.stdout = saved
