"""SelectAmbiguous: the next human batch, and the pool left beside it.

The batch holds the items the last model found most ambiguous plus a fresh
random calibration sample of the rest (logic/batches.py).
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.dal import s3
from labeling.dal.batch_files import write_batch_and_pool
from labeling.layout import split_s3_uri
from labeling.logic import batches
from labeling.models.state import JobState
from labeling.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    settings = state.job.settings
    bucket, pool_key = split_s3_uri(state.pool_uri)
    scored = state.train_model  # the pool carries the last model's margins

    def remaining():
        return s3.read_jsonl(bucket, pool_key)

    state.iteration += 1
    batch = batches.next_batch(
        remaining, state.counts.pool, size=settings.MaxConcurrentTaskCount,
        calibration_size=settings.CalibrationSampleSize, scored=scored,
        rng=batches.iteration_rng(settings.Seed, state.iteration),
    )
    state.train_model, state.sagemaker, state.threshold = False, None, None
    state.training = state.validation_transform = state.pool_transform = None
    return write_batch_and_pool(state, batch, remaining()).dump()
