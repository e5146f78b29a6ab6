"""Storing a human batch and the pool left beside it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from labeling.dal import s3
from labeling.dal.shards import ShardedJsonlWriter
from labeling.layout import s3_uri
from labeling.logic import batches
from labeling.logic.sagemaker_step import rows_per_shard
from labeling.models.state import HumanBatch, JobState
from labeling.observability import logger


def write_batch_and_pool(state: JobState, batch: list[dict], pool_items: Iterable[dict[str, Any]]) -> JobState:
    """Store iteration k's human batch and the pool left beside it; update the state."""
    bucket, layout, k = state.job.bucket, state.job.layout, state.iteration
    with s3.JsonlWriter(bucket, layout.human_batch(k)) as writer:
        for item in batch:
            writer.write(item)
    # Shards for the pool transform's instances; the items left are those the batch came from less it.
    left = (state.counts.pool if state.pool_uri else state.counts.total) - len(batch)
    with ShardedJsonlWriter(bucket, layout.pool(k), rows_per_shard(left, state.job.settings)) as pool:
        for item in batches.without(pool_items, batch):
            pool.write(item)
    calibration = sum(1 for item in batch if item["role"] == batches.CALIBRATION)
    state.batch = HumanBatch(uri=s3_uri(bucket, layout.human_batch(k)), size=len(batch), calibrationSize=calibration)
    state.pool_uri = s3_uri(bucket, layout.pool(k))
    state.counts.in_human_batch = len(batch)
    state.counts.pool = pool.count
    logger.info("human batch selected",
                extra={"iteration": k, "batch": len(batch), "calibration": calibration, "pool": writer.count})
    return state
