"""Score a job's output manifest against the known answers of its data set.

Both files are in Ground Truth's output format. Where the label sits in each:
  * the output: under the job's `LabelAttributeName` (job.json, default "label"), which
    report.json states as `labelAttributeName`; lines the job left unlabeled carry only
    `<attribute>-metadata` with a `failure-reason`;
  * the answers: under whichever attribute has an `<attribute>-metadata` object, the
    rule the simulated workforce reads them by (autolabel/localcloud/workforce.py).
Lines are matched by their item (`source-ref` or `source`), so neither order nor the
attribute names need to agree.

Only machine labels are scored: human labels are the simulated workers' copies of the
answers. Classification: the share of machine labels whose class is the answer's.
Object detection: each machine-labeled image's quality against the known boxes
(`labeling.logic.box_metric.image_quality`, the measure the job's threshold promises
a mean of), the share of images at the target quality or above, and the mean IoU of the
boxes matched one to one.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autolabel.localcloud.workforce import ITEM_KEYS
from labeling.logic import jsonl
from labeling.logic.box_metric import image_quality, match_boxes
from labeling.logic.box_quality import TARGET_QUALITY

DEFAULT_LABEL_ATTRIBUTE = "label"  # JobConfig.LabelAttributeName's default, for a report without one


class ScoringError(ValueError):
    pass


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in jsonl.file_lines(path) if line.strip()]


def item_key(record: Mapping[str, Any]) -> str:
    for key in ITEM_KEYS:
        if key in record:
            return f"{key}:{record[key]}"
    raise ScoringError(f"line names no item ({' or '.join(ITEM_KEYS)}): {json.dumps(record)[:120]}")


def answer_attribute(record: Mapping[str, Any]) -> str:
    """The attribute an answers line labels its item under: the one with `<attribute>-metadata`."""
    for key, value in record.items():
        if key.endswith("-metadata") and isinstance(value, dict):
            return key.removesuffix("-metadata")
    raise ScoringError(f"answers line has no <attribute>-metadata: {json.dumps(record)[:120]}")


def output_attribute(report: Mapping[str, Any]) -> str:
    return report.get("labelAttributeName") or DEFAULT_LABEL_ATTRIBUTE


@dataclass(frozen=True)
class Labeled:
    """One output line's label, with the answer for the same item."""

    line: Mapping[str, Any]
    attribute: str
    answer: Mapping[str, Any]
    answer_attribute: str

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.line[f"{self.attribute}-metadata"]

    @property
    def by_machine(self) -> bool:
        return self.metadata.get("human-annotated") == "no"


def labeled_lines(output: Iterable[Mapping[str, Any]], answers: Iterable[Mapping[str, Any]],
                  attribute: str) -> tuple[list[Labeled], int]:
    """(the output lines that carry a label, each with its answer; how many lines carry none)."""
    known = {item_key(record): record for record in answers}
    labeled, unlabeled = [], 0
    for line in output:
        if attribute not in line:
            unlabeled += 1  # a stopping condition ended the job first (failure-reason in the metadata)
            continue
        key = item_key(line)
        if key not in known:
            raise ScoringError(f"output item {key[:120]} is not in the answers")
        answer = known[key]
        labeled.append(Labeled(line, attribute, answer, answer_attribute(answer)))
    return labeled, unlabeled


def _class_name(record: Mapping[str, Any], attribute: str) -> str | int:
    # Names, not indices: the same name is right whatever order either side lists classes in.
    return record[f"{attribute}-metadata"].get("class-name", record[attribute])


def _boxes_in_answer_classes(labeled: Labeled) -> list[dict[str, Any]]:
    """The output's boxes with class ids translated, by class name, into the answers' class map."""
    predicted = labeled.line[labeled.attribute].get("annotations", [])
    output_map = labeled.metadata.get("class-map")
    answer_map = labeled.answer[f"{labeled.answer_attribute}-metadata"].get("class-map")
    if not output_map or not answer_map:
        return list(predicted)
    id_of = {name: int(class_id) for class_id, name in answer_map.items()}
    # A class the answers do not know gets an id no answer box has, so it matches nothing.
    return [{**box, "class_id": id_of.get(output_map.get(str(box["class_id"])), -1)} for box in predicted]


@dataclass
class Score:
    """What the output holds and, for its machine labels, how good they are against the answers."""

    task_type: str
    items: int
    human_labeled: int = 0
    machine_labeled: int = 0
    unlabeled: int = 0
    machine_correct: int = 0  # classification
    qualities: list[float] = field(default_factory=list)  # detection: one per machine-labeled image
    matched_ious: list[float] = field(default_factory=list)  # detection: one per matched box

    @property
    def detection(self) -> bool:
        return self.task_type == "object-detection"

    @property
    def machine_accuracy(self) -> float | None:
        if self.detection or not self.machine_labeled:
            return None
        return self.machine_correct / self.machine_labeled

    @property
    def output_accuracy(self) -> float | None:
        """Every labeled item, human labels counted as right (they copy the answers)."""
        labeled = self.human_labeled + self.machine_labeled
        if self.detection or not labeled:
            return None
        return (self.human_labeled + self.machine_correct) / labeled

    @property
    def mean_quality(self) -> float | None:
        return statistics.fmean(self.qualities) if self.qualities else None

    @property
    def share_at_target_quality(self) -> float | None:
        if not self.qualities:
            return None
        return sum(quality >= TARGET_QUALITY for quality in self.qualities) / len(self.qualities)

    @property
    def mean_matched_iou(self) -> float | None:
        return statistics.fmean(self.matched_ious) if self.matched_ious else None

    def met_target(self, target: float) -> bool | None:
        """Machine labels at the job's target (accuracy, or mean image quality for boxes); None when there are none."""
        measured = self.mean_quality if self.detection else self.machine_accuracy
        return None if measured is None else measured >= target


def score(output: Iterable[Mapping[str, Any]], answers: Iterable[Mapping[str, Any]], *,
          task_type: str, attribute: str) -> Score:
    output = list(output)
    labeled, unlabeled = labeled_lines(output, answers, attribute)
    result = Score(task_type, items=len(output), unlabeled=unlabeled)
    for item in labeled:
        if not item.by_machine:
            result.human_labeled += 1
        elif result.detection:
            result.machine_labeled += 1
            predicted = _boxes_in_answer_classes(item)
            known = item.answer[item.answer_attribute].get("annotations", [])
            result.qualities.append(image_quality(predicted, known))
            result.matched_ious.extend(overlap for _, _, overlap in match_boxes(predicted, known))
        else:
            result.machine_labeled += 1
            result.machine_correct += _class_name(item.line, item.attribute) == _class_name(
                item.answer, item.answer_attribute)
    return result


def score_files(output_manifest: Path, answers: Path, report: Mapping[str, Any]) -> Score:
    return score(read_lines(output_manifest), read_lines(answers), task_type=report["taskType"],
                 attribute=output_attribute(report))
