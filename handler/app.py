"""Lambda entry point: wiring and one router. Bad configuration fails here, at start-up, naming every bad variable.

Two triggers, one function: SQS batches of lifecycle notifications (the queue path), and the schedule's
``Scheduled Event`` (the sweep, handler/sweep.py), which returns a JSON summary.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from handler.config import load_settings
from handler.fleet import Fleet
from handler.hooks import HookDirectory
from handler.launch import LaunchHandler
from handler.observability import logger, new_metrics, use_service_name
from handler.processor import ConcurrentBatchProcessor
from handler.sweep import Sweep

settings = load_settings(os.environ)
use_service_name(settings.service_name)
fleet = Fleet.from_settings(settings)
metrics = new_metrics(namespace=settings.metrics_namespace, service=settings.service_name)
hooks = HookDirectory(fleet)
launches = LaunchHandler(settings, fleet, metrics, hooks)
processor = ConcurrentBatchProcessor(prepare=launches.start_batch, max_workers=settings.max_workers)
sweep = Sweep(settings, fleet, metrics, hooks)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - settings.time_margin_seconds
        return sweep.run(deadline).to_json()
    return process_partial_response(
        event=event, record_handler=launches.handle_record, processor=processor, context=context
    )
