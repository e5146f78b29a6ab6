"""SelectAmbiguous: the next human batch, and the pool left beside it.

The batch holds the items the last model found most ambiguous plus a fresh
random calibration sample of the rest (logic/batches.py). This is also where the
job's stopping conditions end the loop (logic/stopping.py): no batch, and
stopReason set, which MoreToLabel? sends to WriteOutput.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.checkpointing import checkpointed
from labeling.dal import shards
from labeling.dal.batch_files import write_batch_and_pool
from labeling.layout import split_s3_uri
from labeling.logic import batches, out_of_reach, stopping
from labeling.models.state import JobState
from labeling.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@checkpointed(after="SelectAmbiguous")
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    settings, counts = state.job.settings, state.counts
    assert state.pool_uri is not None, "set by SelectSample"
    bucket, pool_key = split_s3_uri(state.pool_uri)
    scored = state.train_model  # the pool carries the last model's ambiguity scores
    if out_of_reach.training_stopped(state.out_of_reach):
        # The target is out of the model's reach: humans label the rest in plain batches, as in a
        # human-only job; with no calibration part, ConsolidateAnnotations trains nothing.
        scored = False

    def remaining() -> Iterator[dict[str, Any]]:
        return shards.read_jsonl(bucket, pool_key)  # remaining.jsonl, or the pool's shards (no model)

    state.iteration += 1

    def select(human_budget: int | None) -> list[dict]:
        return batches.next_batch(
            remaining, counts.pool, size=settings.MaxConcurrentTaskCount,
            calibration_size=settings.CalibrationSampleSize, scored=scored,
            rng=batches.iteration_rng(settings.Seed, state.iteration),
            max_duplicate_bits=settings.NearDuplicateMaxBits, human_budget=human_budget,
            min_calibration=batches.least_calibration(settings),
        )

    batch, state.stop_reason = stopping.next_batch_or_stop(
        settings.StoppingConditions, human_labeled=counts.human_labeled, machine_labeled=counts.machine_labeled,
        total=counts.total, unlabeled=counts.pool, select=select,
    )
    if state.stop_reason:
        logger.info("stopping condition met, no more human batches",
                    extra={"iteration": state.iteration, "condition": state.stop_reason, "unlabeled": counts.pool})
    state.train_model, state.sagemaker, state.threshold = False, None, None
    state.training = state.validation_transform = state.pool_transform = None
    return write_batch_and_pool(state, batch, remaining()).dump()
