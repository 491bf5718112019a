"""Execution environments as processes of their own, as Lambda runs them: each has its own interpreter.

:func:`environment_factory` in ``sandbox.lambda_runtime`` initialises every environment in the sandbox's own
process, where ten cold starts and eighty record workers take turns with the sandbox on one interpreter lock.
:class:`ProcessEnvironments` is a handler factory like it (the trigger calls it once per cold start), but
each call starts a process that initialises the handler module there and then serves the environment's
invocations one at a time over a pipe. The processes are forked from a server that has already imported
``preload`` (the modules the handler imports, as they are already imported in the sandbox's process), so a
cold start is the module's own initialisation in both arrangements; what changes is that environments no
longer share a lock with each other or with the sandbox.

What the function prints (Powertools' logs, EMF) is written to the caller's ``sys.stdout`` after each
initialisation and invocation, in one piece. An invocation that outlives its deadline (the trigger's
timeout) ends its process, as Lambda ends the environment; :meth:`ProcessEnvironments.close` ends the rest.
A response that is not JSON comes back as INVALID_RESPONSE as in-process, unless it cannot even be pickled:
then the invocation fails with ``Runtime.MarshalError``.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import random
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from sandbox.invocation import Handler, invocation_deadline

_STARTUP_SECONDS = 120.0  # how long a cold start may take when no invocation deadline bounds it
_ENDED = 5.0  # how long an ended process gets to exit before it is killed


_ERROR_TYPES: dict[str, type[Exception]] = {}


class ProcessEnvironments:
    """A handler factory whose every environment is a process of its own (see the module's docstring).

    Each process's ``os.environ`` is this process's at the cold start plus ``environment`` (the function's
    configuration), as an environment initialised in this process would see it. ``seed`` seeds each
    process's ``random`` with (seed, environment number), since retry jitter draws from it. The fork server
    is one per process: the first factory's ``preload`` is what it imports.
    """

    def __init__(
        self,
        module: str,
        attribute: str = "lambda_handler",
        *,
        environment: Mapping[str, str] | None = None,
        preload: Iterable[str] = (),
        seed: int | None = None,
    ) -> None:
        self._module, self._attribute = module, attribute
        self._environment = dict(environment or {})
        self._seed = seed
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["sandbox.lambda_process", *preload, *_main_module()])
        self._lock = threading.Lock()
        self._processes: list[BaseProcess] = []
        self._started = 0

    def start_server(self) -> None:
        """Starts the fork server and waits until it has imported ``preload`` (seconds, once per process), so
        no cold start waits for it."""
        ready = self._context.Process(target=_exit_at_once, name="lambda-environments-ready", daemon=True)
        ready.start()
        ready.join()

    def __call__(self) -> Handler:
        """One cold start: a new process that initialises the module; its handler, as the caller calls it."""
        with self._lock:
            self._started += 1
            number = self._started
        ours, theirs = self._context.Pipe()
        environment = {**os.environ, **self._environment}
        process = self._context.Process(
            target=_serve,
            args=(theirs, self._module, self._attribute, environment, (self._seed, number)),
            name=f"lambda-environment-{number}",
            daemon=True,
        )
        process.start()
        theirs.close()
        with self._lock:
            self._processes.append(process)
        _reply(ours, process, _STARTUP_SECONDS)
        return _handler(ours, process)

    def close(self) -> None:
        """Ends every environment's process (idle ones wait for an invocation that will not come)."""
        with self._lock:
            processes, self._processes = self._processes, []
        for process in processes:
            _end(process)

    def __enter__(self) -> ProcessEnvironments:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _exit_at_once() -> None:
    """A process that only shows the fork server answers."""


def _main_module() -> list[str]:
    """The program's main module when it was run with ``-m``: multiprocessing runs it again in every new
    process before its target (as ``__mp_main__``); imported by the fork server, that is only its own code."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", None)
    return [name] if isinstance(name, str) and not name.endswith("__main__") else []


def _handler(connection: Connection, process: BaseProcess) -> Handler:
    lock = threading.Lock()  # one invocation at a time, as the runner already ensures; the pipe needs it too

    def handle(event: dict[str, Any], context: Any) -> Any:
        with lock:
            connection.send((event, context))
            return _reply(connection, process, _STARTUP_SECONDS)

    return handle


def _reply(connection: Connection, process: BaseProcess, unbounded_wait: float) -> Any:
    """Waits for the process's answer within the invocation's deadline; past it, the process is ended."""
    deadline = invocation_deadline()
    wait = unbounded_wait if deadline is None else max(0.0, deadline - time.monotonic())
    if not connection.poll(wait):
        _end(process)
        raise TimeoutError("the execution environment's process did not answer before the deadline; ended")
    try:
        kind, value, printed = connection.recv()
    except EOFError:
        _end(process)
        raise _error("Runtime.ExitError", f"the environment's process exited ({process.exitcode})") from None
    sys.stdout.write(printed)
    if kind == "error":
        raise _error(*value)
    return value


def _error(type_name: str, message: str) -> Exception:
    """The function's error under its own type's name, so the invocation reports it as it would in-process."""
    if type_name not in _ERROR_TYPES:
        _ERROR_TYPES[type_name] = type(type_name, (Exception,), {"__module__": __name__})
    return _ERROR_TYPES[type_name](message)


def _end(process: BaseProcess) -> None:
    if process.is_alive():
        process.terminate()
        process.join(_ENDED)
        if process.is_alive():
            process.kill()
    process.join(_ENDED)


def _serve(
    connection: Connection,
    module: str,
    attribute: str,
    environment: Mapping[str, str],
    seed: tuple[int | None, int],
) -> None:
    """The environment's process: initialise, then one invocation per message until the pipe closes."""
    import importlib  # noqa: PLC0415 - the child's own imports

    os.environ.clear()
    os.environ.update(environment)
    if seed[0] is not None:
        random.seed(f"{seed[0]}-{seed[1]}")
    printed = io.StringIO()
    sys.stdout = printed  # Powertools' Logger binds sys.stdout when it is created, during initialisation
    try:
        handler = getattr(importlib.import_module(module), attribute)
    except BaseException as exc:  # noqa: BLE001 - an init error is the invocation's answer
        connection.send(("error", (type(exc).__name__, str(exc)), _drain(printed)))
        return
    connection.send(("ready", None, _drain(printed)))
    while True:
        try:
            event, context = connection.recv()
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("value", handler(event, context))
        except BaseException as exc:  # noqa: BLE001 - the function's error is the invocation's answer
            answer = ("error", (type(exc).__name__, str(exc)))
        text = _drain(printed)
        try:
            connection.send((*answer, text))
        except (TypeError, AttributeError, pickle.PicklingError) as exc:  # a response no pipe can carry
            connection.send(("error", ("Runtime.MarshalError", str(exc)), text))


def _drain(printed: io.StringIO) -> str:
    text = printed.getvalue()
    printed.seek(0)
    printed.truncate()
    return text
