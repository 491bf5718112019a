"""What the benchmark does to the emulator so that it measures the handler, not moto (and says so in its output).

Costs that AWS does not have made the sandbox, not the candidates, the bottleneck of a 1000-instance scale-out
(measured with the call journal's timestamps and the sandbox lock timed; docs/benchmarks.md):

- **Tag lookups scan the Region.** moto 5.2.5 finds one resource's tags by scanning every tag of the Region
  (``TaggedEC2Resource.get_tags`` calls ``describe_tags`` with a ``resource-id`` filter). DescribeInstances reads
  each instance's tags that way, and a ``tag:`` filter (asg-namer's collision check) does it for every instance
  of the Region: one call held the sandbox's global lock 2.6 s on average with 1000 tagged instances (up to
  5.9 s), invocations timed out and nothing was released in the first 150 s. :func:`faster_moto` reads the
  resource's own entry of the same table: the same tags, in the same order, with the same fields. Within a
  ``tag:`` filter moto also turns every filter value into a pattern again for every instance (24 us a time: 6 s
  for a 50-name collision check over 5000 instances, longer than the handler's read timeout); that pure
  translation is cached.
- **SQS reads the clock per message.** moto's SQS converts the time to a datetime and back twice per queued
  message on every send and receive: with 1000 messages queued a ReceiveMessage held the lock 0.5 s, and the
  1000 notifications the sandbox sends inside the call that launches the instances 10 s. moto's ``unix_time()``
  without an argument is ``time.time()``; :func:`faster_moto` makes it exactly that in moto's SQS models.
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
  engine's own ``poll_interval``); a completion still applies overdue timeouts first.

They belong in the sandbox itself (its moto patches, a reset, the trigger's environments, the engine); until
they move there the benchmark applies them to its own runs only (``--moto-as-is`` turns them off).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
from moto.ec2 import utils as ec2_utils
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
from moto.moto_api._internal.models import moto_api_backend
from moto.sqs import models as sqs_models

if TYPE_CHECKING:
    from sandbox.server import Sandbox

LIFECYCLE_POLL_SECONDS = 1.0
DESCRIPTION = (
    "moto's EC2 tag lookups indexed by resource id (moto scans every tag of the Region) and its filter "
    "patterns cached; moto's SQS reads time.time() directly (it converted datetimes twice per queued message); "
    "moto's backends reset before each run (a fresh, empty account per run); "
    f"the lifecycle timer looks for overdue hook actions every {LIFECYCLE_POLL_SECONDS:g} s (was 0.05 s); "
    "each execution environment starts without the SDK's default session (as a fresh process would)"
)


def _indexed_get_tags(self: Any) -> list[dict[str, str]]:
    """What ``describe_tags(filters={"resource-id": [self.id]})`` returns, read from the resource's own entry."""
    resource_id = getattr(self, "id", None)
    if not resource_id:
        return []
    tags = self.ec2_backend.tags.get(resource_id)  # .get: never adds an entry to moto's defaultdict
    if not tags:
        return []
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [{"resource_id": resource_id, "key": k, "value": v, "resource_type": kind} for k, v in dict(tags).items()]


# moto.sqs.models' clocks and what one second is in each
_SQS_CLOCKS = {"unix_time": 1.0, "unix_time_millis": 1000.0}


def _now_or(convert: Callable[..., float], scale: float) -> Callable[..., float]:
    """moto's ``unix_time``/``unix_time_millis``: the current time straight from ``time.time()``, a given
    datetime converted as before."""

    def unix_time(dt: Any = None) -> float:
        return time.time() * scale if dt is None else convert(dt)

    return unix_time


@contextlib.contextmanager
def faster_moto(enabled: bool = True) -> Iterator[None]:
    """Installs the indexed tag lookup, the cached filter patterns and SQS's direct clock for the duration
    (process-wide: every candidate runs with them alike)."""
    if not enabled:
        yield
        return
    original, translate = TaggedEC2Resource.__dict__["get_tags"], ec2_utils.simple_aws_filter_to_re
    clocks = {name: getattr(sqs_models, name) for name in _SQS_CLOCKS}
    TaggedEC2Resource.get_tags = _indexed_get_tags  # type: ignore[method-assign]
    ec2_utils.simple_aws_filter_to_re = functools.lru_cache(maxsize=65536)(translate)
    for name, scale in _SQS_CLOCKS.items():
        setattr(sqs_models, name, _now_or(clocks[name], scale))
    try:
        yield
    finally:
        TaggedEC2Resource.get_tags = original  # type: ignore[method-assign]
        ec2_utils.simple_aws_filter_to_re = translate
        for name, clock in clocks.items():
            setattr(sqs_models, name, clock)


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
