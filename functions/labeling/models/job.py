"""What a user puts beside the input manifest: job.json and labels.json."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from labeling.logic.promise import EACH_ITERATION, PromiseName
from labeling.task_types import TASK_TYPES

# Ground Truth runs automated labeling only on data sets of at least this many items.
AUTOMATED_LABELING_MIN_ITEMS = 1250
INSTRUCTIONS_MAX_CHARACTERS = 10_000
TASK_TIME_LIMIT_DEFAULT = 300
TASK_AVAILABILITY_DEFAULT = 864_000  # 10 days
TASK_AVAILABILITY_MAX = 2_592_000  # 30 days
# A SageMaker model's ARN: CreateModel's ModelName is up to 63 of [a-zA-Z0-9-] (SageMaker writes
# it in lower case in the ARN).
MODEL_ARN_PATTERN = r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"


class LabelingJobStoppingConditions(BaseModel):
    """job.json's StoppingConditions, as in Ground Truth's CreateLabelingJob: limits that end a job early.

    MaxHumanLabeledObjectCount caps the items humans label over the whole job: each human
    batch is cut to what is left of it (the calibration part stays whole), and once what is
    left cannot hold a calibration sample (automated jobs, whose every batch needs a whole one
    for the threshold) or is 0 (human-only jobs), no further batch is sent, unless everything
    still unlabeled fits in it; the job then finishes with what is labeled (logic/batches.py).
    MaxPercentageOfInputDatasetLabeled: once human plus machine labels reach this share of
    the items, the job finishes after that iteration. Either way the items left unlabeled
    are written to the output manifest without a label, with a `failure-reason` (logic/output.py).
    """

    model_config = ConfigDict(extra="forbid")

    MaxHumanLabeledObjectCount: int | None = Field(None, ge=1)
    MaxPercentageOfInputDatasetLabeled: int | None = Field(None, ge=1, le=100)


class JobConfig(BaseModel):
    """job.json. Field names follow Ground Truth's CreateLabelingJob where it has one."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    TaskType: str
    # The key of the label in the output manifest; Ground Truth's rules (_label_attribute_name).
    LabelAttributeName: str = "label"
    # The promise: machine labels are at least this accurate...
    TargetAccuracy: float = Field(0.95, ge=0.5, lt=1.0)
    # For object detection the promise is about boxes: machine-labeled images reach at least
    # this mean IoU-based image quality against human boxes (logic/box_metric.py); 0.6 is
    # Ground Truth's quality target for bounding boxes. TargetAccuracy does not apply there.
    TargetMeanIoU: float = Field(0.6, gt=0.0, lt=1.0)
    # ...with at least this probability over the random calibration sample.
    ConfidenceLevel: float = Field(0.95, ge=0.5, lt=1.0)
    # Ours (Ground Truth states no promise): what the target and confidence promise (logic/promise.py).
    # "EachIteration": each iteration's machine labels, on their own (a long job's chance that some
    # iteration misses grows with its iterations). "AllMachineLabels": all the job's machine labels
    # together, the confidence split across iterations. "WholeDataset": the whole output, human
    # labels (counted as right) included (PAC labeling), which lets machine labels fall below the
    # target where human labels make up for them. The default stays the per-iteration promise that
    # the benchmarks measure; the report says what a job-level one cost in coverage.
    Promise: PromiseName = EACH_ITERATION
    # Items sent to human workers per iteration (Ground Truth's MaxConcurrentTaskCount).
    # Small batches label small data sets far more cheaply than Ground Truth's 1,000
    # (shared/notes/data-and-models.md: BBC News 22% human labels at 100 vs 59% at 1,000).
    # 150 with 100 calibration items was best of those tried on BBC News (benchmarks/README.md).
    MaxConcurrentTaskCount: int = Field(150, ge=10, le=10_000)
    # The random part of each human batch, held out of that iteration's training to
    # calibrate the threshold on the pool it is applied to. "auto": sized to that pool,
    # pool^(2/3) items from 100 to 2,000, none once the pool is under two samples (humans label
    # the rest), beside MaxConcurrentTaskCount - 100 ambiguous items (logic/batches.py). The size
    # depends on item counts only, so the promise holds as with a number. 100 stays the default:
    # over whole jobs "auto" machine-labeled less in the simulated loop, in fewer iterations
    # (benchmarks/README.md, "Calibration sizing").
    CalibrationSampleSize: Annotated[int, Field(ge=10, le=5_000)] | Literal["auto"] = Field(default=100)
    NumberOfHumanWorkersPerDataObject: int = Field(1, ge=1, le=9)
    # Ground Truth's HumanTaskConfig settings for the workers' side (docs/task-api.md).
    # What the labeling page shows above each task; None: a sentence for the task type
    # (task_types.py). It travels in the workflow's state (256 KB), hence the cap.
    Instructions: str | None = Field(None, min_length=1, max_length=INSTRUCTIONS_MAX_CHARACTERS)
    # How long a claimed task is the worker's (a lease); then it returns to the pool and the
    # worker's answer no longer counts. CreateLabelingJob's range is 30 s to 8 hours; it has no
    # default. 5 minutes: one class or a few boxes takes seconds to a minute, and a task a worker
    # walked away from is hidden from everyone else for this long.
    TaskTimeLimitInSeconds: int = Field(TASK_TIME_LIMIT_DEFAULT, ge=30, le=28_800)
    # How long each human batch waits for its answers before the job fails (HumanLabeling's
    # timeout; the answers given so far are kept). CreateLabelingJob's range starts at 60 s and
    # ends at 10 days for a public workforce, 30 days for a private one (ours: Cognito users);
    # its default is 10 days (864,000 s), kept here.
    TaskAvailabilityLifetimeInSeconds: int = Field(TASK_AVAILABILITY_DEFAULT, ge=60, le=TASK_AVAILABILITY_MAX)
    # How the last model's ambiguity about an item is scored for active learning:
    # "margin" = 1 - (top score - runner-up), "entropy" = entropy of the scores / log(classes).
    ActiveLearningStrategy: Literal["margin", "entropy"] = "margin"
    # Near-duplicate guard for the ambiguous part of a human batch: items whose 128-bit
    # embedding sketches (SimHash) differ in at most this many bits are near-duplicates, and
    # only the most ambiguous of them goes into a batch (a human label on one teaches the model
    # as much as on both). Two sketches differ in 128 * angle / pi bits on average, so 8 bits
    # is ~11 degrees, cosine ~0.98: rewordings of the same text, while items merely on the same
    # topic (cosine 0.9, ~18 bits) are kept apart with over 99% probability. 0 turns the guard
    # off (a plain count, no sentinel value; a 0-bit radius would only catch identical sketches,
    # which the default catches too).
    NearDuplicateMaxBits: int = Field(8, ge=0, le=64)
    StoppingConditions: LabelingJobStoppingConditions | None = None
    # Ours: when this many iterations in a row find the target out of the model's reach (every
    # threshold the search could certify has an upper confidence bound below the target:
    # logic/out_of_reach.py; one false alarm per iteration at most 1 - ConfidenceLevel), the job
    # says so in its output and report. 3, the fewest that cost no machine labels in the benchmark
    # (benchmarks/README.md, 10 seeds each): on MNIST the pool just after a large cut is the hard
    # leftover and often out of reach, twice in a row in 1 run of 10, and later models label again
    # (2 would have stopped that run and lost 655 machine labels); never 3 on BBC News, digits or MNIST.
    OutOfReachIterations: int = Field(default=3, ge=1)
    # What it does then: true stops training (no more SageMaker jobs) and humans label the rest in
    # plain batches, as in a human-only job; false goes on training, and the report says what the
    # models after that point cost and labeled. True: at OutOfReachIterations 3 it cost no machine label
    # on BBC News, digits or MNIST (no run was stopped), and on the hard case (bbc-news-noisy, 40% of
    # its topics shuffled) it stopped every run after 3 models instead of 13, which labeled nothing.
    StopTrainingWhenOutOfReach: bool = Field(default=True)
    # The model containers seed numpy with it, which takes 0 to 2**32 - 1.
    Seed: int = Field(0, ge=0, le=2**32 - 1)
    # Cost model, USD: what one human answer costs (Ground Truth's per-object fee
    # plus a public-workforce price); SageMaker instance prices come from the task-type table.
    HumanPricePerAnswerUSD: float = Field(0.08, ge=0)
    # Bad manifest lines (logic/manifest.py) are skipped and reported, as Ground Truth does;
    # above this share of the lines the manifest is more likely wrong as a whole (a wrong
    # task type, a CSV), so the job stops before any human is paid.
    MaxInvalidLinePercentage: float = Field(10.0, ge=0, le=100)
    # Ours (Ground Truth has no such setting): the most instances a batch transform runs on. SageMaker
    # spreads a transform over instances by input file only, so the pool (and the validation set) is
    # written as that many shards, one instance each; the count follows the items, one instance per
    # TRANSFORM_ITEMS_PER_INSTANCE (10,000), up to this cap (labeling/logic/sagemaker_step.py). 1, the
    # default, is one instance whatever the size: a million images on one ml.c5.xlarge take many hours,
    # and 10 takes a tenth of them at about the same cost. Each instance counts against the account's
    # quota for the task type's inference instance ("<type> for transform job usage"); 100 is ours.
    MaxTransformInstanceCount: int = Field(1, ge=1, le=100)
    # Ours: after the loop ends (every item labeled, or a stopping condition), a uniform random sample
    # (seeded by Seed, without replacement) of this many machine labels goes to humans as one more
    # human batch; their answers replace the machine labels they check, and report.json's `audit`
    # gives the machine labels' measured accuracy (mean IoU for boxes) with a two-sided interval at
    # ConfidenceLevel (logic/audit.py). 0: no audit. Each audited item costs
    # NumberOfHumanWorkersPerDataObject answers; 5,000 items bound the interval's half-width below
    # 2 points at 95% confidence, more than any audit needs.
    AuditSampleSize: int = Field(default=0, ge=0, le=5_000)
    # Ground Truth's LabelingJobAlgorithmsConfig.InitialActiveLearningModelArn: the ARN of a model
    # to start from, here the final model of an earlier job of this stack (its report.json's
    # finalActiveLearningModel.modelArn) of the same task type and labels, in the same order.
    # The first iteration that would train a model uses this one for its transforms instead (no
    # training job: the workflow skips Train and CreateModel and transforms with the model as it
    # is); later iterations train as usual on all of this job's human labels. The promise does not
    # change: each threshold is still calibrated on this job's fresh human labels, so a poor
    # initial model simply certifies few items. ValidateJob finds the earlier job's report.json
    # from the model's name and refuses a model of another task type or label set, or one this
    # stack never made (logic/initial_model.py). None: the first model is trained, as without it.
    InitialActiveLearningModelArn: str | None = Field(None, pattern=MODEL_ARN_PATTERN)

    @field_validator("TaskType")
    @classmethod
    def _known_task_type(cls, value: str) -> str:
        if value not in TASK_TYPES:
            raise ValueError(f"must be one of {sorted(TASK_TYPES)}")
        return value

    @field_validator("LabelAttributeName")
    @classmethod
    def _label_attribute_name(cls, value: str) -> str:
        """Ground Truth's rules. CreateLabelingJob's LabelAttributeName (API reference): 1 to 127
        characters matching `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}`; "The name can't end with
        "-metadata""; and for every task type but semantic segmentation, video frame and 3D point
        cloud ones (none of them ours) it must not end with "-ref". The developer guide's Output data
        page (sms-data-output) is stricter: "You can't use -metadata in the label attribute name",
        so it is refused anywhere in the name. Ours: not `source` (the label would overwrite the
        data object; `source-ref` ends with -ref)."""
        problem = _label_attribute_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("CalibrationSampleSize", mode="wrap")
    @classmethod
    def _one_calibration_error(cls, value: object, handler: ValidatorFunctionWrapHandler) -> int | str:
        """One message for the number-or-"auto" union, not one per member of it."""
        try:
            return handler(value)
        except ValidationError:
            if isinstance(value, int) and not isinstance(value, bool):
                raise ValueError(f'must be at least 10 and at most 5000 (or "auto"), not {value}') from None
            raise ValueError(f'must be "auto" or a whole number from 10 to 5000, not {value!r}') from None

    @model_validator(mode="after")
    def _calibration_fits_in_batch(self) -> JobConfig:
        if self.CalibrationSampleSize == "auto":
            # "auto" leaves MaxConcurrentTaskCount - 100 ambiguous items beside its sample (logic/batches.py).
            if self.MaxConcurrentTaskCount <= 100:
                raise ValueError(
                    'with CalibrationSampleSize "auto", MaxConcurrentTaskCount must be above 100: each later '
                    "human batch holds its 100 less the most ambiguous items, beside a sample sized to the pool"
                )
        elif self.CalibrationSampleSize >= self.MaxConcurrentTaskCount:
            raise ValueError(
                "CalibrationSampleSize must be smaller than MaxConcurrentTaskCount, "
                "so that each human batch also holds the most ambiguous items"
            )
        return self


LABEL_ATTRIBUTE_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}")


def _label_attribute_problem(name: str) -> str | None:
    """Why `name` cannot be JobConfig.LabelAttributeName, and what to use instead; None if it can."""
    def instead(candidate: str) -> str:
        return candidate if candidate and _label_attribute_problem(candidate) is None else "label"

    if not LABEL_ATTRIBUTE_PATTERN.fullmatch(name) or len(name) > 127:
        return (f"{name!r} is not a Ground Truth label attribute name: use 1 to 127 letters, digits and "
                "hyphens, starting and ending with a letter or digit, e.g. 'label' or 'bounding-box'")
    if name in ("source", "source-ref"):
        return (f"{name!r} is the manifest's key for the data object, and the label would overwrite it; "
                "use another name, e.g. 'label'")
    if "-metadata" in name:
        return (f"{name!r} contains '-metadata', which Ground Truth does not allow: the label's metadata is "
                f"written under '<name>-metadata'; use e.g. {instead(name.replace('-metadata', ''))!r}")
    if name.endswith("-ref"):
        return (f"{name!r} ends with '-ref', which Ground Truth keeps for labels stored as files (semantic "
                f"segmentation, video and point cloud jobs); use e.g. {instead(name.removesuffix('-ref'))!r}")
    return None


class LabelCategory(BaseModel):
    label: str = Field(min_length=1)


class LabelCategories(BaseModel):
    """labels.json, in Ground Truth's label category configuration format."""

    model_config = ConfigDict(populate_by_name=True)

    document_version: str = Field("2018-11-28", alias="document-version")
    labels: list[LabelCategory] = Field(min_length=2)

    @field_validator("labels")
    @classmethod
    def _unique(cls, labels: list[LabelCategory]) -> list[LabelCategory]:
        names = [c.label for c in labels]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate labels: {duplicates}")
        # Workers and answers name a class by its text: "Sport" and "sport" would be two
        # classes that a person cannot tell apart, so one class's labels would be split.
        spellings: dict[str, list[str]] = {}
        for name in names:
            spellings.setdefault(name.casefold(), []).append(name)
        alike = [group for group in spellings.values() if len(group) > 1]
        if alike:
            raise ValueError(f"labels differ only in case: {alike[0]}; give each class one spelling")
        return labels

    @property
    def names(self) -> list[str]:
        return [c.label for c in self.labels]
