"""Storing a human batch and the pool left beside it."""

from __future__ import annotations

from labeling.dal import s3
from labeling.layout import s3_uri
from labeling.logic import batches
from labeling.models.state import HumanBatch, JobState
from labeling.observability import logger


def write_batch_and_pool(state: JobState, batch: list[dict], pool_items) -> JobState:
    """Store iteration k's human batch and the pool left beside it; update the state."""
    bucket, layout, k = state.job.bucket, state.job.layout, state.iteration
    with s3.JsonlWriter(bucket, layout.human_batch(k)) as writer:
        for item in batch:
            writer.write(item)
    with s3.JsonlWriter(bucket, layout.pool(k)) as writer:
        for item in batches.without(pool_items, batch):
            writer.write(item)
    calibration = sum(1 for item in batch if item["role"] == batches.CALIBRATION)
    state.batch = HumanBatch(uri=s3_uri(bucket, layout.human_batch(k)), size=len(batch), calibrationSize=calibration)
    state.pool_uri = s3_uri(bucket, layout.pool(k))
    state.counts.in_human_batch = len(batch)
    state.counts.pool = writer.count
    logger.info("human batch selected",
                extra={"iteration": k, "batch": len(batch), "calibration": calibration, "pool": writer.count})
    return state
