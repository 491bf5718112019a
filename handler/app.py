"""Lambda entry point: wiring only. Bad configuration fails here, at start-up, naming every bad variable."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from handler.batch import ConcurrentBatchProcessor
from handler.config import load_settings
from handler.namer import Namer
from handler.observability import logger

namer = Namer.from_settings(load_settings(os.environ))
processor = ConcurrentBatchProcessor(prepare=namer.start_batch, max_workers=namer.settings.max_workers)


@logger.inject_lambda_context(clear_state=True)
@namer.metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=namer.handle_record, processor=processor, context=context
    )
