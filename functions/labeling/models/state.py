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
    # handler can hand the state on unchanged. Defaults go by keyword, Field(default=...): a type
    # checker reads a field's default from that keyword only (PEP 681), else it thinks the field required.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ActiveLearningModel(_Model):
    """A SageMaker model the job's transforms ran with: one an iteration trained, or the initial model.

    iteration: the iteration of this job that used it (for a job's initial model, as `Job.initial_model`
    holds it, the earlier job's iteration that trained it). modelArtifacts: its model.tar.gz in S3.
    """

    iteration: int
    model_name: str = Field(alias="modelName")
    model_arn: str = Field(alias="modelArn")
    model_artifacts: str = Field(alias="modelArtifacts")


class Job(_Model):
    name: str
    bucket: str
    prefix: str  # jobs/<job>/
    # Where the outputs land, shown to whoever reads the execution in the console.
    output_prefix: str = Field(alias="outputPrefix")  # jobs/<job>/output/
    automated: bool
    label_names: list[str] = Field(alias="labelNames")
    settings: JobConfig
    # job.json's InitialActiveLearningModelArn, as the earlier job's report.json names it (ValidateJob).
    initial_model: ActiveLearningModel | None = Field(default=None, alias="initialModel")

    @property
    def layout(self) -> JobLayout:
        return JobLayout(self.prefix)


class Counts(_Model):
    total: int  # the items the job labels: the manifest's lines less `invalid`
    # Manifest lines that cannot be labeled (logic/manifest.py); WriteOutput reports them.
    invalid: int = 0
    human_labeled: int = Field(default=0, alias="humanLabeled")
    machine_labeled: int = Field(default=0, alias="machineLabeled")
    # Not labeled and not in the current human batch.
    pool: int = 0
    in_human_batch: int = Field(default=0, alias="inHumanBatch")


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
    wait_seconds: int = Field(default=JOB_RETRY_FIRST_WAIT_SECONDS, alias="waitSeconds")


class JobRetries(_Model):
    training: JobRetry = Field(default_factory=JobRetry)
    validation: JobRetry = Field(default_factory=JobRetry)
    pool: JobRetry = Field(default_factory=JobRetry)


class CreatedModel(_Model):
    """What the workflow keeps of CreateModel's answer (its ResultSelector)."""

    model_arn: str = Field(alias="modelArn")


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
    validation_instance_count: int = Field(default=1, alias="validationInstanceCount", ge=1)
    pool_instance_count: int = Field(default=1, alias="poolInstanceCount", ge=1)
    # A job that failed for want of capacity runs again under a new name (logic/sagemaker_failure.py).
    retries: JobRetries = Field(default_factory=lambda: JobRetries())
    # True: this iteration transforms with the job's initial model (model_name is its name), and the
    # workflow's InitialModel? choice skips Train and CreateModel (logic/sagemaker_step.py).
    initial_model: bool = Field(default=False, alias="initialModel")
    # Set by CreateModel's ResultSelector once this iteration's model exists.
    created_model: CreatedModel | None = Field(default=None, alias="createdModel")


class SageMakerRun(_Model):
    """What the workflow keeps of a finished SageMaker job (epoch milliseconds)."""

    start_time: float = Field(alias="startTime")
    end_time: float = Field(alias="endTime")
    # A training job's model.tar.gz (its ResultSelector's ModelArtifacts.S3ModelArtifacts).
    model_artifacts: str | None = Field(default=None, alias="modelArtifacts")

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
    # The job's promise (job.json Promise; logic/promise.py) and the level this iteration's test ran at.
    promise: str = "EachIteration"
    alpha: float | None = None
    # A job-level promise only: the pool items the threshold labels and the errors they hold at most
    # (when the bound holds), and what the per-iteration promise would have chosen and labeled with the
    # same model and calibration sample (the report's cost in coverage).
    pool_accepted: int | None = Field(default=None, alias="poolAccepted")
    error_bound: float | None = Field(default=None, alias="errorBound")
    each_iteration_value: float | None = Field(default=None, alias="eachIterationValue")
    each_iteration_pool_accepted: int | None = Field(default=None, alias="eachIterationPoolAccepted")


class PromiseLedger(_Model):
    """What a job-level promise has spent in the earlier iterations (logic/promise.py): threshold searches
    (each spent part of the confidence), the machine labels accepted and the errors they hold at most."""

    tests: int = 0
    machine_accepted: int = Field(default=0, alias="machineAccepted")
    error_bound: float = Field(default=0.0, alias="errorBound")


class OutOfReach(_Model):
    """The job's declaration that its target is out of the model's reach (logic/out_of_reach.py): made by
    ComputeThreshold once OutOfReachIterations iterations in a row said so, and kept for the report.

    iteration: the one that made the declaration; iterations: how many in a row said so by then;
    highestUpperBound: the most the curve allowed at any threshold it could certify (None: none);
    reachableTarget / reachableShare: the highest lower target the same search certified on that
    iteration's calibration sample, and the share of it accepted (None, 0.0: none down to the floor);
    trainingStopped: StopTrainingWhenOutOfReach was on, so no model was trained after it.
    """

    iteration: int
    iterations: int
    measure: str
    target: float
    highest_upper_bound: float | None = Field(default=None, alias="highestUpperBound")
    reachable_target: float | None = Field(default=None, alias="reachableTarget")
    reachable_share: float = Field(default=0.0, alias="reachableShare")
    training_stopped: bool = Field(default=False, alias="trainingStopped")


class JobState(_Model):
    job: Job
    run_id: str = Field(alias="runId")
    # How many times this run was resumed (ResumeJob): part of its SageMaker job names.
    resumes: int = 0
    iteration: int = 0
    counts: Counts
    batch: HumanBatch | None = None
    pool_uri: str | None = Field(default=None, alias="poolUri")
    # True when this iteration trains a model and applies it to the pool.
    train_model: bool = Field(default=False, alias="trainModel")
    sagemaker: SageMakerStep | None = None
    # Set by the SageMaker states' ResultSelector.
    training: SageMakerRun | None = None
    validation_transform: SageMakerRun | None = Field(default=None, alias="validationTransform")
    pool_transform: SageMakerRun | None = Field(default=None, alias="poolTransform")
    threshold: Threshold | None = None
    # The stopping condition that ended the job (e.g. "MaxHumanLabeledObjectCount"), set by
    # SelectAmbiguous; None while the job runs and when it ends with every item labeled.
    # MoreToLabel? goes to WriteOutput when it is set.
    stop_reason: str | None = Field(default=None, alias="stopReason")
    # The model of the latest iteration whose transforms ran (ComputeThreshold records it): what
    # report.json names as finalActiveLearningModel. latest_model() also counts one made since.
    final_model: ActiveLearningModel | None = Field(default=None, alias="finalModel")
    # The iteration whose human batch is the audit's sample (SelectAudit, logic/audit.py): set once the
    # loop has ended and job.json's AuditSampleSize asked for an audit; the Audit? choice runs it once.
    audit_iteration: int | None = Field(default=None, alias="auditIteration")
    # A job-level promise's budget so far (logic/promise.py); untouched under EachIteration.
    promise_ledger: PromiseLedger = Field(default_factory=lambda: PromiseLedger(), alias="promiseLedger")
    # Iterations in a row whose calibration curve put the target out of the model's reach, and the
    # declaration once there were OutOfReachIterations of them (ComputeThreshold; logic/out_of_reach.py).
    # Checkpointed with the rest of the state, so a resumed job keeps its stop.
    out_of_reach_streak: int = Field(default=0, alias="outOfReachStreak")
    out_of_reach: OutOfReach | None = Field(default=None, alias="outOfReach")

    def dump(self) -> dict:
        return self.model_dump(by_alias=True, mode="json")

    def iteration_model(self) -> ActiveLearningModel | None:
        """The model this iteration's transforms use, once it exists: the initial model, or the one
        CreateModel made from this iteration's training job; None before that or without one."""
        step = self.sagemaker
        if step is None:
            return None
        if step.initial_model and self.job.initial_model:
            return self.job.initial_model.model_copy(update={"iteration": self.iteration})
        if step.created_model and self.training and self.training.model_artifacts:
            return ActiveLearningModel(iteration=self.iteration, modelName=step.model_name,
                                       modelArn=step.created_model.model_arn,
                                       modelArtifacts=self.training.model_artifacts)
        return None

    def latest_model(self) -> ActiveLearningModel | None:
        """The newest model the job has: Ground Truth's final model is the last one trained; here it is
        the last one made or given whose transforms ran or were to run (a job that fails in a transform
        names the model it failed with, which exists in SageMaker)."""
        return self.iteration_model() or self.final_model
