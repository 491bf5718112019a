"""What the benchmark does to the sandbox so that every run and every candidate starts alike (and says so).

moto's costs that AWS does not have (tag reads that scanned the Region, filter patterns translated per
resource, SQS's clock, DynamoDB's table-copying transactions and its member-by-member answers) are taken out
by the sandbox itself, for tests, demo, chaos and benchmark alike (``sandbox.moto_patches``; measured in
docs/benchmarks.md, "What the benchmark changes in the emulator"). What stays here belongs to the benchmark's
method:

- **State piles up.** Every run leaves its instances (terminated ones stay listed, with their tags) and moto's
  filters visit all of them, so a later run would pay for the earlier ones. :func:`fresh_account` resets moto's
  backends before each run: every run and every candidate starts from the same empty account.
- **Execution environments share one process.** A fresh Lambda execution environment is a fresh process: a
  module-level ``boto3.client(...)`` (the baseline's) builds the SDK's default session and loads the service
  models again. In one process it reused the session an earlier environment built (a cold start of 0.065 s
  instead of 0.35 s), while ``handler.app``, which builds its own session, paid in full.
  :func:`fresh_sdk_default_session` drops the default session before each cold start.
- **Execution environments are processes.** Unless ``--in-process`` is given, each execution environment
  is a process of its own (``sandbox.lambda_process``), forked from a server that has imported what the
  candidates import (:func:`environment_preload`), so a cold start is the module's initialisation, as in one
  process, while the environments no longer take turns with each other and the sandbox on one interpreter
  lock (ten cold starts at once made the first release of an N=100 run wait 3.5 s instead of 0.5 s).
- **The hook timer holds the lock.** The sandbox's lifecycle timer looks for overdue actions every 50 ms under
  the global lock, each look visiting every open action and its group's instances (a few ms with 1000 open).
  Hook timeouts are minutes away in every run, so the benchmark lets it look once a second
  (``LIFECYCLE_POLL_SECONDS``, the engine's own ``poll_interval``); a completion still applies overdue timeouts
  first. The sandbox's default stays 50 ms: tests wait for hook timeouts on a sped-up sandbox clock, where a
  second of real time is a minute.
"""

from __future__ import annotations

import pkgutil
from typing import TYPE_CHECKING

import boto3
from moto.moto_api._internal.models import moto_api_backend

if TYPE_CHECKING:
    from sandbox.server import Sandbox

LIFECYCLE_POLL_SECONDS = 1.0
DESCRIPTION = (
    "moto's backends reset before each run (a fresh, empty account per run); "
    "each execution environment starts without the SDK's default session (as a fresh process would); "
    f"the lifecycle timer looks for overdue hook actions every {LIFECYCLE_POLL_SECONDS:g} s (was 0.05 s); "
    "the sandbox's own fixes of moto's costs AWS does not have (EC2 tag reads and filter patterns, SQS's clock, "
    "DynamoDB's transactions and answers) apply as everywhere"
)


def emulator_description(process_environments: bool) -> str:
    """What the output says of the emulator: the fixed changes and how execution environments are run."""
    where = (
        "each execution environment is a process of its own, forked with the candidates' imports done"
        if process_environments
        else "every execution environment runs in the benchmark's own process (--in-process)"
    )
    return f"{DESCRIPTION}; {where}"


def environment_preload() -> list[str]:
    """What an environment's process has imported before its cold start: what the benchmark's own process has
    imported when an environment initialises in it (the SDK and the handler's modules, not ``handler.app``)."""
    import handler  # noqa: PLC0415 - only the list of its modules is needed here

    modules = sorted(f"handler.{m.name}" for m in pkgutil.iter_modules(handler.__path__) if m.name != "app")
    return ["boto3", "bench.warm_sdk", *modules]


def fresh_sdk_default_session() -> None:
    """Called before each execution environment's cold start (clients built earlier keep their own session)."""
    boto3.DEFAULT_SESSION = None


def fresh_account(sandbox: Sandbox) -> None:
    """Forgets every resource of every service (as moto's own reset does), under the sandbox's lock, and the
    lifecycle journal of earlier runs; the fault controls keep their settings."""
    with sandbox.lock:
        moto_api_backend.reset()
    sandbox.lifecycle.clear_journal()
    sandbox.journal.clear()
