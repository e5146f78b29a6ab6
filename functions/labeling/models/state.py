"""The state that travels through the Step Functions execution.

It carries S3 URIs and counts only: Step Functions caps a state at 256 KB, so
item lists live in S3 (ARCHITECTURE.md).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from labeling.layout import JobLayout
from labeling.logic.sagemaker_failure import JOB_RETRY_FIRST_WAIT_SECONDS
from labeling.models.job import JobConfig


class _Model(BaseModel):
    # Unknown keys (e.g. SageMaker results added by ResultPath) are kept so a
    # handler can hand the state on unchanged.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Job(_Model):
    name: str
    bucket: str
    prefix: str  # jobs/<job>/
    # Where the outputs land, shown to whoever reads the execution in the console.
    output_prefix: str = Field(alias="outputPrefix")  # jobs/<job>/output/
    automated: bool
    label_names: list[str] = Field(alias="labelNames")
    settings: JobConfig

    @property
    def layout(self) -> JobLayout:
        return JobLayout(self.prefix)


class Counts(_Model):
    total: int  # the items the job labels: the manifest's lines less `invalid`
    # Manifest lines that cannot be labeled (logic/manifest.py); WriteOutput reports them.
    invalid: int = 0
    human_labeled: int = Field(0, alias="humanLabeled")
    machine_labeled: int = Field(0, alias="machineLabeled")
    # Not labeled and not in the current human batch.
    pool: int = 0
    in_human_batch: int = Field(0, alias="inHumanBatch")


class HumanBatch(_Model):
    uri: str
    size: int
    calibration_size: int = Field(alias="calibrationSize")


class JobRetry(_Model):
    """A SageMaker job's runs after a CapacityError or InternalServerError; the workflow counts them.

    The job's name is its SageMakerStep name + suffix ("" at first, then "-c1", "-c2", ...), and the
    workflow waits waitSeconds before the next run (doubled each time).
    """

    attempt: int = 0
    suffix: str = ""
    wait_seconds: int = Field(JOB_RETRY_FIRST_WAIT_SECONDS, alias="waitSeconds")


class JobRetries(_Model):
    training: JobRetry = Field(default_factory=JobRetry)
    validation: JobRetry = Field(default_factory=JobRetry)
    pool: JobRetry = Field(default_factory=JobRetry)


class SageMakerStep(_Model):
    """Names and locations of this iteration's SageMaker jobs, made by the workflow's Lambdas."""

    training_job_name: str = Field(alias="trainingJobName")
    model_name: str = Field(alias="modelName")
    validation_transform_job_name: str = Field(alias="validationTransformJobName")
    pool_transform_job_name: str = Field(alias="poolTransformJobName")
    training_data_uri: str = Field(alias="trainingDataUri")
    model_output_uri: str = Field(alias="modelOutputUri")
    validation_data_uri: str = Field(alias="validationDataUri")
    validation_output_uri: str = Field(alias="validationOutputUri")
    pool_data_uri: str = Field(alias="poolDataUri")
    pool_output_uri: str = Field(alias="poolOutputUri")
    label_count: str = Field(alias="labelCount")  # SageMaker hyperparameters are strings
    # TransformResources.InstanceCount of each transform: its input is written as that many shards
    # (logic/sagemaker_step.py, transform_instances), since SageMaker spreads a transform by file.
    validation_instance_count: int = Field(1, alias="validationInstanceCount", ge=1)
    pool_instance_count: int = Field(1, alias="poolInstanceCount", ge=1)
    # A job that failed for want of capacity runs again under a new name (logic/sagemaker_failure.py).
    retries: JobRetries = Field(default_factory=lambda: JobRetries())


class SageMakerRun(_Model):
    """What the workflow keeps of a finished SageMaker job (epoch milliseconds)."""

    start_time: float = Field(alias="startTime")
    end_time: float = Field(alias="endTime")

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end_time - self.start_time) / 1000.0)


class Threshold(_Model):
    value: float | None
    # What the promise measures: "accuracy" (classification) or "mean IoU" (boxes; logic/label_kinds.py).
    measure: str = "accuracy"
    calibration_size: int = Field(alias="calibrationSize")
    calibration_accepted: int = Field(alias="calibrationAccepted")
    # The measure on the calibration items at or above the threshold, and its lower confidence bound.
    estimate: float | None
    lower_bound: float = Field(alias="lowerBound")


class JobState(_Model):
    job: Job
    run_id: str = Field(alias="runId")
    # How many times this run was resumed (ResumeJob): part of its SageMaker job names.
    resumes: int = 0
    iteration: int = 0
    counts: Counts
    batch: HumanBatch | None = None
    pool_uri: str | None = Field(None, alias="poolUri")
    # True when this iteration trains a model and applies it to the pool.
    train_model: bool = Field(False, alias="trainModel")
    sagemaker: SageMakerStep | None = None
    # Set by the SageMaker states' ResultSelector.
    training: SageMakerRun | None = None
    validation_transform: SageMakerRun | None = Field(None, alias="validationTransform")
    pool_transform: SageMakerRun | None = Field(None, alias="poolTransform")
    threshold: Threshold | None = None
    # The stopping condition that ended the job (e.g. "MaxHumanLabeledObjectCount"), set by
    # SelectAmbiguous; None while the job runs and when it ends with every item labeled.
    # MoreToLabel? goes to WriteOutput when it is set.
    stop_reason: str | None = Field(None, alias="stopReason")

    def dump(self) -> dict:
        return self.model_dump(by_alias=True, mode="json")
