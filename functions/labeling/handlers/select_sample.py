"""SelectSample: the first human batch, a seeded random sample of the items.

It is split into a training part and a calibration part; everything else
becomes the pool of unlabeled items. Lines ValidateJob found invalid are no items.
A MaxHumanLabeledObjectCount below a full first batch cuts it (logic/batches.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.checkpointing import checkpointed
from labeling.dal.batch_files import write_batch_and_pool
from labeling.dal.job_items import job_items
from labeling.logic import batches, stopping
from labeling.models.state import JobState
from labeling.observability import logger, tracer
from labeling.task_types import task_type


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@checkpointed(after="SelectSample")
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    settings, bucket, layout = state.job.settings, state.job.bucket, state.job.layout
    source_key = task_type(settings.TaskType).source_key

    def items() -> Iterator[dict[str, Any]]:
        return job_items(bucket, layout, source_key)

    batch = batches.first_batch(
        items, size=settings.MaxConcurrentTaskCount, calibration_size=settings.CalibrationSampleSize,
        automated=state.job.automated, rng=batches.iteration_rng(settings.Seed, state.iteration),
        human_budget=stopping.human_budget(settings.StoppingConditions, state.counts.human_labeled),
        total=state.counts.total, min_calibration=batches.least_calibration(settings),
    )
    return write_batch_and_pool(state, batch, items()).dump()
