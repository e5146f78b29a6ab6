"""The names and S3 locations of one iteration's SageMaker jobs (ConsolidateAnnotations, ResumeJob).

SageMaker job names must be unique in the account and region for good: a rerun of a job gets
a new run id (ValidateJob), and each resume of a run a new attempt number (`resumes`), so a
resumed iteration trains and transforms under names no earlier attempt used. A job that failed
for want of capacity runs again as <name>-c<attempt> (SageMakerStep.retries, the workflow's).

How many instances a transform runs on: SageMaker spreads a batch transform over its instances
by input file only, so its input is written as shards (labeling.dal.shards), one per instance,
each a contiguous run of the items, so that reading the shards in order gives the items in the
order one file would. The count follows the items, one instance per TRANSFORM_ITEMS_PER_INSTANCE,
up to job.json's MaxTransformInstanceCount (default 1). Below that many items an instance is
not worth its start (minutes of billed time before the first request).

job.json's InitialActiveLearningModelArn: the job's first model iteration (no model yet) transforms
with that model, under its own name, and trains none (`initialModel`; the workflow's InitialModel?
choice skips Train and CreateModel); every later one trains as usual.
"""

from __future__ import annotations

import math
import re

from labeling.layout import s3_uri, split_s3_uri
from labeling.models.job import JobConfig
from labeling.models.state import JobState, SageMakerStep

TRANSFORM_ITEMS_PER_INSTANCE = 10_000


def name_base(state: JobState) -> str:
    base = f"{state.job.name}-{state.run_id}-{state.iteration}"
    return base + (f"-r{state.resumes}" if state.resumes else "")


# name_base's parts: <job>-<run id: 6 hex digits>-<iteration>[-r<resumes>], and a model is <base>-model.
MODEL_NAME = re.compile(r"^(?P<job>.+)-[0-9a-f]{6}-(?P<iteration>[0-9]+)(?:-r[0-9]+)?-model$")


def job_of_model(model_name: str) -> str | None:
    """The job whose iteration named the model `model_name` (as SageMaker may write it, in lower case);
    None when it is no name this stack gives a model."""
    match = MODEL_NAME.match(model_name)
    return match["job"] if match else None


def transform_instances(items: int, settings: JobConfig) -> int:
    """The transform's InstanceCount for `items` input lines, and the number of shards they are written as."""
    return max(1, min(settings.MaxTransformInstanceCount, math.ceil(items / TRANSFORM_ITEMS_PER_INSTANCE)))


def rows_per_shard(items: int, settings: JobConfig) -> int:
    """Lines per shard, so that `items` lines make transform_instances(items) shards."""
    return max(1, math.ceil(items / transform_instances(items, settings)))


def sagemaker_step(state: JobState, validation_items: int | None = None) -> SageMakerStep:
    """validation_items: the validation set's size (the batch's calibration sample when not given)."""
    bucket, layout, k = state.job.bucket, state.job.layout, state.iteration
    settings = state.job.settings
    base = name_base(state)
    assert state.pool_uri is not None, "set by SelectSample"
    _, pool_key = split_s3_uri(state.pool_uri)
    if validation_items is None:
        validation_items = state.batch.calibration_size if state.batch else 1
    # No model of an earlier iteration: this is the first model iteration (ComputeThreshold may have
    # recorded this iteration's own model already, when a resume rebuilds the step after it).
    first = state.final_model is None or state.final_model.iteration >= state.iteration
    initial = state.job.initial_model if first else None
    return SageMakerStep(
        trainingJobName=f"{base}-train", modelName=initial.model_name if initial else f"{base}-model",
        initialModel=initial is not None,
        validationTransformJobName=f"{base}-val", poolTransformJobName=f"{base}-pool",
        trainingDataUri=s3_uri(bucket, layout.training_data(k)),
        modelOutputUri=s3_uri(bucket, layout.model_output()),
        validationDataUri=s3_uri(bucket, layout.validation_data(k)),
        validationOutputUri=s3_uri(bucket, layout.validation_predictions(k)),
        poolDataUri=s3_uri(bucket, pool_key),
        poolOutputUri=s3_uri(bucket, layout.pool_predictions(k)),
        labelCount=str(len(state.job.label_names)),
        validationInstanceCount=transform_instances(validation_items, settings),
        poolInstanceCount=transform_instances(state.counts.pool, settings),
    )
