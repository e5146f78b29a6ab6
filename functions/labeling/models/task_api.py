"""The workers' task API's requests and replies (docs/task-api.md), as JSON names them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Reply(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    def dump(self) -> dict:
        return self.model_dump(by_alias=True, mode="json", exclude_none=True)


# ------------------------------------------------------------------ answers ----

class DrawnBox(BaseModel):
    """One box as Ground Truth's bounding-box tool reports it: class name and pixels."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1)
    left: int = Field(ge=0)
    top: int = Field(ge=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class ImageProperties(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int = Field(ge=1)
    height: int = Field(ge=1)


class BoundingBoxAnswer(BaseModel):
    """Ground Truth's bounding-box worker answer (the `boundingBox` of crowd-bounding-box)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    bounding_boxes: list[DrawnBox] = Field(alias="boundingBoxes", max_length=1000)
    input_image_properties: ImageProperties = Field(alias="inputImageProperties")

    @model_validator(mode="after")
    def _boxes_inside_the_image(self) -> BoundingBoxAnswer:
        size = self.input_image_properties
        for number, box in enumerate(self.bounding_boxes, start=1):
            if box.left + box.width > size.width or box.top + box.height > size.height:
                raise ValueError(f"box {number} ({box.left}, {box.top}, {box.width} x {box.height}) reaches outside "
                                 f"the {size.width} x {size.height} image; draw it inside the image")
        return self


class AnswerRequest(BaseModel):
    """POST .../answer's body: `label` (a class name) for classification, `boundingBox` for boxes.

    Nothing else: the worker is the token's, the task the path's.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    label: str | None = Field(default=None, min_length=1)
    bounding_box: BoundingBoxAnswer | None = Field(default=None, alias="boundingBox")

    def content(self) -> dict:
        """The answer as the worker-response file's answerContent keeps it."""
        return self.model_dump(by_alias=True, exclude_none=True)


# ------------------------------------------------------------------ replies ----

class BatchProgress(_Reply):
    iteration: int
    done: int
    total: int


class Progress(_Reply):
    mine: int  # this worker's counted answers in the job
    batch: BatchProgress


class TaskItem(_Reply):
    text: str | None = None  # text classification
    image_url: str | None = Field(default=None, alias="imageUrl")  # images: a presigned GET URL, minutes


class Task(_Reply):
    task_id: str = Field(alias="taskId")
    job: str
    task_type: str = Field(alias="taskType")
    labels: list[str]
    instructions: str
    item: TaskItem
    accepted_at: str = Field(alias="acceptedAt")  # YYYY-MM-DDTHH:MM:SS.mmmZ
    lease_expires_at: str = Field(alias="leaseExpiresAt")
    progress: Progress


class ClaimReply(_Reply):
    task: Task | None

    def dump(self) -> dict:
        return {"task": self.task.dump() if self.task else None}


class AnswerReply(_Reply):
    accepted: Literal[True] = True
    duplicate: bool
    task_done: bool = Field(alias="taskDone")
    batch_done: bool = Field(alias="batchDone")
    message: str | None = None  # for a duplicate: which answer counts
    progress: Progress


class ReleaseReply(_Reply):
    released: bool
    reason: str | None = None  # "not-claimed": the worker held no lease on the task


class JobSummary(_Reply):
    job: str
    task_type: str = Field(alias="taskType")
    labels: list[str]
    instructions: str
    open_tasks: int = Field(alias="openTasks")  # about: the batch's tasks less those complete


class JobsReply(_Reply):
    jobs: list[JobSummary]
