"""asg-namer deployed in the sandbox as the stack deploys it: one Lambda function (handler.app) behind its SQS
trigger and its schedule, each test choosing the function's environment."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sandbox.event_source_mapping import REPORT_BATCH_ITEM_FAILURES, EventSourceMappingSettings
from sandbox.lambda_context import FunctionSettings
from sandbox.lambda_function import LambdaFunction
from sandbox.lambda_runtime import FunctionLogs, capture_function_output
from sandbox.schedule import Schedule
from sandbox.trigger import SqsTrigger

if TYPE_CHECKING:
    from sandbox.server import Sandbox
    from scenarios import World

HANDLER = "handler.app.lambda_handler"


def asg_namer(env: Mapping[str, str], timeout: float = 20.0, reserved_concurrency: int | None = None) -> LambdaFunction:
    """The function with ``env`` as its environment variables (read at each cold start)."""
    return LambdaFunction(
        FunctionSettings("asg-namer", timeout=timeout),
        handler=HANDLER,
        environment=env,
        reserved_concurrency=reserved_concurrency,
    )


def queue_trigger(
    sandbox: Sandbox, world: World, function: LambdaFunction, *, batch_size: int = 10, concurrency: int = 3
) -> SqsTrigger:
    """The stack's event source mapping on the world's queue (partial batch responses, a short window)."""
    return SqsTrigger(
        world.queue_url,
        function=function,
        mapping=EventSourceMappingSettings(
            batch_size=batch_size,
            maximum_batching_window_in_seconds=0.2,
            maximum_concurrency=concurrency,
            function_response_types=(REPORT_BATCH_ITEM_FAILURES,),
        ),
        endpoint_url=sandbox.endpoint_url,
        idle_poll_interval=0.1,
    )


@contextmanager
def deployed(
    sandbox: Sandbox,
    world: World,
    function: LambdaFunction,
    logs: FunctionLogs,
    *,
    schedule: str = "rate(10 minutes)",
    **mapping: int,
) -> Iterator[tuple[SqsTrigger, Schedule]]:
    """The function's two triggers running, the function's output captured in ``logs``: the queue trigger and
    the sweep schedule (the stack's default ten minutes: tests fire it with ``fire_now``)."""
    trigger = queue_trigger(sandbox, world, function, **mapping)
    sweep = Schedule(f"{world.asg_name}-sweep", schedule, function, sandbox.clock)
    with capture_function_output(logs):
        trigger.start()
        sweep.start()
        try:
            yield trigger, sweep
        finally:
            sweep.stop()
            trigger.stop()
