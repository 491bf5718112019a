"""Powertools' batch processor with a prepare step for the batch and a bounded pool of record workers."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType


class ConcurrentBatchProcessor(BatchProcessor):
    """Powertools' SQS BatchProcessor, with a prepare step for the batch and a bounded thread pool.

    A record still fails by raising; every record is reported on its own (partial batch response),
    even when all of them fail, so one bad batch does not count as a Lambda error.
    """

    def __init__(self, prepare: Callable[[list[dict[str, Any]], Any], None], max_workers: int) -> None:
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._prepare_batch = prepare
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="record")

    def process(self) -> list[tuple[Any, ...]]:
        self._prepare_batch(self.records, self.lambda_context)
        return list(self._pool.map(self._process_record, self.records))
