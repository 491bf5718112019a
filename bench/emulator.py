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
- **The hook timer holds the lock.** The sandbox's lifecycle timer looks for overdue actions every 50 ms under
  the global lock, each look O(open actions x group size) (about 30 ms with 1000 actions open). Hook timeouts
  are minutes away in every run, so the benchmark lets it look once a second (``LIFECYCLE_POLL_SECONDS``, the
  engine's own ``poll_interval``); a completion still applies overdue timeouts first. The sandbox's default
  stays 50 ms: tests wait for hook timeouts on a sped-up sandbox clock, where a second of real time is a minute.
"""

from __future__ import annotations

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
