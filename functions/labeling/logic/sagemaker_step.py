"""The names and S3 locations of one iteration's SageMaker jobs (ConsolidateAnnotations, ResumeJob).

SageMaker job names must be unique in the account and region for good: a rerun of a job gets
a new run id (ValidateJob), and each resume of a run a new attempt number (`resumes`), so a
resumed iteration trains and transforms under names no earlier attempt used.
"""

from __future__ import annotations

from labeling.layout import s3_uri, split_s3_uri
from labeling.models.state import JobState, SageMakerStep


def name_base(state: JobState) -> str:
    base = f"{state.job.name}-{state.run_id}-{state.iteration}"
    return base + (f"-r{state.resumes}" if state.resumes else "")


def sagemaker_step(state: JobState) -> SageMakerStep:
    bucket, layout, k = state.job.bucket, state.job.layout, state.iteration
    base = name_base(state)
    _, pool_key = split_s3_uri(state.pool_uri)
    return SageMakerStep(
        trainingJobName=f"{base}-train", modelName=f"{base}-model",
        validationTransformJobName=f"{base}-val", poolTransformJobName=f"{base}-pool",
        trainingDataUri=s3_uri(bucket, layout.training_data(k)),
        modelOutputUri=s3_uri(bucket, layout.model_output()),
        validationDataUri=s3_uri(bucket, layout.validation_data(k)),
        validationOutputUri=s3_uri(bucket, layout.validation_predictions(k)),
        poolDataUri=s3_uri(bucket, pool_key),
        poolOutputUri=s3_uri(bucket, layout.pool_predictions(k)),
        labelCount=str(len(state.job.label_names)),
    )
