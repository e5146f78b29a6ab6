"""What a user puts beside the input manifest: job.json and labels.json."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labeling.task_types import TASK_TYPES

# Ground Truth runs automated labeling only on data sets of at least this many items.
AUTOMATED_LABELING_MIN_ITEMS = 1250


class JobConfig(BaseModel):
    """job.json. Field names follow Ground Truth's CreateLabelingJob where it has one."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    TaskType: str
    LabelAttributeName: str = Field("label", pattern=r"^[a-zA-Z0-9_-]{1,127}$")
    # The promise: machine labels are at least this accurate...
    TargetAccuracy: float = Field(0.95, ge=0.5, lt=1.0)
    # ...with at least this probability over the random calibration sample.
    ConfidenceLevel: float = Field(0.95, ge=0.5, lt=1.0)
    # Items sent to human workers per iteration (Ground Truth's MaxConcurrentTaskCount).
    # Small batches label small data sets far more cheaply than Ground Truth's 1,000
    # (shared/notes/data-and-models.md: BBC News 22% human labels at 100 vs 59% at 1,000).
    # 150 with 100 calibration items was best of those tried on BBC News (benchmarks/README.md).
    MaxConcurrentTaskCount: int = Field(150, ge=10, le=10_000)
    # The random part of each human batch, held out of that iteration's training to
    # calibrate the threshold on the pool it is applied to.
    CalibrationSampleSize: int = Field(100, ge=10, le=5_000)
    NumberOfHumanWorkersPerDataObject: int = Field(1, ge=1, le=9)
    Seed: int = 0
    # Cost model, USD: what one human answer costs (Ground Truth's per-object fee
    # plus a public-workforce price); SageMaker instance prices come from the task-type table.
    HumanPricePerAnswerUSD: float = Field(0.08, ge=0)

    @field_validator("TaskType")
    @classmethod
    def _known_task_type(cls, value: str) -> str:
        if value not in TASK_TYPES:
            raise ValueError(f"must be one of {sorted(TASK_TYPES)}")
        return value

    @model_validator(mode="after")
    def _calibration_fits_in_batch(self) -> JobConfig:
        if self.CalibrationSampleSize >= self.MaxConcurrentTaskCount:
            raise ValueError(
                "CalibrationSampleSize must be smaller than MaxConcurrentTaskCount, "
                "so that each human batch also holds the most ambiguous items"
            )
        return self


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
        return labels

    @property
    def names(self) -> list[str]:
        return [c.label for c in self.labels]
