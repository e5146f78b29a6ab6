"""What a label is, by kind of task: one class per item, or boxes with classes.

Everything in the loop that depends on the shape of a label goes through one of these:
how workers' answers become one label, how a calibration item is scored against its
human label (right or wrong; a box-quality score in [0, 1]), which threshold keeps the
promise, how sure a model is, and what Ground Truth writes in the output manifest. The
handlers stay the same for every task type.

Label records (the JSON Lines files of human and machine labels, labels.py) hold
"label": the value written under the job's label attribute, a class index for
classification and Ground Truth's {"image_size", "annotations"} for boxes; "confidence":
the item's confidence; and for boxes "objects": one {"confidence"} per annotation.
A human label also holds "workers", how many workers answered; with one worker its
confidence is 1.0 here (the worker agrees with itself) and 0.0 in the output manifest,
as Ground Truth writes it (`output_confidence`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from labeling.logic import box_metric, box_quality, threshold
from labeling.logic.box_consolidation import consolidate_boxes
from labeling.logic.consolidation import majority_vote
from labeling.logic.sampling import ambiguity
from labeling.logic.threshold_decision import ThresholdDecision
from labeling.models.job import JobConfig
from labeling.task_types import task_type

# required(threshold): the lower bound a threshold's calibration items must reach (logic/promise.py).
Requirement = Callable[[float], float]

# A box image's depth is not something a worker reports; the model images are RGB.
IMAGE_DEPTH = 3


def output_confidence(record: Mapping[str, Any], confidence: float) -> float:
    """A confidence as the output manifest writes it: rounded to 4 places, and 0.0 for a human label
    that one worker gave. Ground Truth's "Output data" page (sms-data-output, Confidence Score): "If a
    single worker annotates a task (NumberOfHumanWorkersPerDataObject is set to 1 ...), the confidence
    score is set to 0.00"; its examples write it so for a class and, per entity, for spans. Only the
    output says so: the label records keep 1.0 (nothing reads a human label's confidence but the output).
    With several workers it is the share who agreed; a machine label's is the model's."""
    if record.get("human") and record.get("workers") == 1:
        return 0.0
    return round(float(confidence), 4)


class AnswerError(ValueError):
    """A worker's answer that does not fit the task; the message says what to send."""


class Classification:
    name = "classification"
    measure = threshold.MEASURE

    def target(self, settings: JobConfig) -> float:
        return settings.TargetAccuracy

    def answer(self, label: str | None, bounding_box: Mapping[str, Any] | None, label_names: list[str]) -> dict:
        if label is None or bounding_box is not None:
            raise AnswerError(f"a classification answer is one 'label', one of {label_names}")
        if label not in label_names:
            raise AnswerError(f"label {label!r} is not one of {label_names}")
        return {"label": label, "labelIndex": label_names.index(label)}

    def consolidate(self, answers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """answers: worker id -> stored answer. Majority vote; agreement is the confidence."""
        label, agreement = majority_vote([answer["labelIndex"] for answer in answers.values()])
        return {"label": label, "confidence": agreement}

    def calibration_score(self, human_label: Any, prediction: Mapping[str, Any]) -> bool:
        return prediction["label"] == human_label

    def choose_threshold(self, calibration: Sequence[tuple[float, bool]], settings: JobConfig, *,
                         alpha: float | None = None, required: Requirement | None = None,
                         order_seed: str = box_quality.DEFAULT_ORDER_SEED) -> ThresholdDecision:
        """alpha and required: a job-level promise's level and requirement per threshold (logic/promise.py).
        order_seed is the box bound's (box_quality.py): a count of right labels needs no order."""
        return threshold.choose_threshold(calibration, settings.TargetAccuracy, settings.ConfidenceLevel,
                                          alpha=alpha, required=required)

    def machine_label(self, prediction: Mapping[str, Any]) -> dict[str, Any]:
        return {"label": prediction["label"], "confidence": prediction["confidence"]}

    def ambiguity(self, prediction: Mapping[str, Any], strategy: str) -> float:
        return ambiguity(prediction["scores"], strategy)

    def attribute_value(self, record: Mapping[str, Any]) -> Any:
        return record["label"]

    def metadata(self, record: Mapping[str, Any], label_names: list[str]) -> dict[str, Any]:
        return {"class-name": label_names[record["label"]],
                "confidence": output_confidence(record, record["confidence"])}


class BoundingBoxes:
    name = "bounding-box"
    measure = box_quality.MEASURE

    def target(self, settings: JobConfig) -> float:
        return settings.TargetMeanIoU

    def answer(self, label: str | None, bounding_box: Mapping[str, Any] | None, label_names: list[str]) -> dict:
        """Ground Truth's bounding-box worker answer: {"boundingBoxes": [{"label", "left", "top", "width",
        "height"}], "inputImageProperties": {"width", "height"}}, class names checked and indexed."""
        if bounding_box is None or label is not None:
            raise AnswerError(
                'a bounding-box answer is one "boundingBox": {"boundingBoxes": [{"label", "left", "top", "width", '
                '"height"}, ...], "inputImageProperties": {"width", "height"}} (no boxes: nothing to draw)'
            )
        boxes = []
        for number, box in enumerate(bounding_box["boundingBoxes"], start=1):
            if box["label"] not in label_names:
                raise AnswerError(f"box {number}: label {box['label']!r} is not one of {label_names}")
            boxes.append({"class_id": label_names.index(box["label"]), "left": box["left"], "top": box["top"],
                          "width": box["width"], "height": box["height"]})
        return {"boundingBoxes": boxes, "inputImageProperties": dict(bounding_box["inputImageProperties"])}

    def consolidate(self, answers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        consolidated = consolidate_boxes({worker: answer["boundingBoxes"] for worker, answer in answers.items()})
        # Workers see the same image; the first (by id) speaks for its size.
        size = answers[min(answers)]["inputImageProperties"]
        return {
            "label": {"image_size": [{"width": size["width"], "height": size["height"], "depth": IMAGE_DEPTH}],
                      "annotations": consolidated.annotations},
            "confidence": consolidated.image_confidence,
            "objects": [{"confidence": c} for c in consolidated.confidences],
        }

    def calibration_score(self, human_label: Mapping[str, Any], prediction: Mapping[str, Any]) -> float:
        return box_metric.image_quality(prediction["label"]["annotations"], human_label["annotations"])

    def choose_threshold(self, calibration: Sequence[tuple[float, float]], settings: JobConfig, *,
                         alpha: float | None = None, required: Requirement | None = None,
                         order_seed: str = box_quality.DEFAULT_ORDER_SEED) -> ThresholdDecision:
        return box_quality.choose_box_threshold(calibration, settings.TargetMeanIoU,
                                                confidence_level=settings.ConfidenceLevel,
                                                alpha=alpha, required=required, order_seed=order_seed)

    def machine_label(self, prediction: Mapping[str, Any]) -> dict[str, Any]:
        return {"label": prediction["label"], "confidence": prediction["confidence"],
                "objects": prediction["objects"]}

    def ambiguity(self, prediction: Mapping[str, Any], strategy: str) -> float:
        """1 - the image's confidence, whatever the strategy: margin and entropy score a class
        distribution, and an image of boxes has none; its confidence already estimates how good
        its boxes are (containers/object-detection)."""
        return 1.0 - float(prediction["confidence"])

    def attribute_value(self, record: Mapping[str, Any]) -> Any:
        return record["label"]

    def metadata(self, record: Mapping[str, Any], label_names: list[str]) -> dict[str, Any]:
        """One confidence per box, and a `class-map` of the classes this image's boxes have (by id):
        Ground Truth's bounding-box output example maps only the ids its boxes use ({"0": "dog",
        "5": "bone"}), so an image without boxes has an empty map."""
        present = sorted({annotation["class_id"] for annotation in record["label"]["annotations"]})
        return {"objects": [{"confidence": output_confidence(record, o["confidence"])} for o in record["objects"]],
                "class-map": {str(class_id): label_names[class_id] for class_id in present}}


LABEL_KINDS = {kind.name: kind for kind in (Classification(), BoundingBoxes())}


def label_kind(name: str) -> Classification | BoundingBoxes:
    return LABEL_KINDS[name]


def labels_of(task_type_name: str) -> Classification | BoundingBoxes:
    """The label kind of a task type (task_types.py's `label_kind`)."""
    return label_kind(task_type(task_type_name).label_kind)
