"""Lambda entry point: wiring only. Bad configuration fails here, at start-up, naming every bad variable."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from handler.config import load_settings
from handler.fleet import Fleet
from handler.launch import LaunchHandler
from handler.observability import logger, new_metrics, use_service_name
from handler.processor import ConcurrentBatchProcessor

settings = load_settings(os.environ)
use_service_name(settings.service_name)
fleet = Fleet.from_settings(settings)
metrics = new_metrics(namespace=settings.metrics_namespace, service=settings.service_name)
launches = LaunchHandler(settings, fleet, metrics)
processor = ConcurrentBatchProcessor(prepare=launches.start_batch, max_workers=settings.max_workers)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=launches.handle_record, processor=processor, context=context
    )
