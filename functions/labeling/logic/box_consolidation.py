"""Turning several workers' boxes for one image into one set of boxes.

Each worker draws every object they see. Boxes from different workers that mark the
same object are grouped: within a class, a worker's box joins the group whose boxes it
overlaps most (IoU of at least SAME_OBJECT_IOU with the group's mean box), one box per
worker per group; otherwise it starts a group of its own. A group becomes an object
when at least half of the workers drew it (a box one worker of three drew is more
likely a slip than an object two missed); its box is the mean of its members' edges,
its confidence the share of workers who drew it, as Ground Truth writes a human
object's `confidence`. Workers are taken in the order of their ids and their boxes in
the order drawn, so the result does not depend on the order answers arrived in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from labeling.logic.box_metric import iou

# PASCAL VOC's rule for "the same object": boxes overlapping at IoU 0.5 or more.
SAME_OBJECT_IOU = 0.5

Box = Mapping[str, int]


@dataclass
class _Group:
    class_id: int
    members: list[Box] = field(default_factory=list)
    workers: set[str] = field(default_factory=set)

    def mean_box(self) -> dict[str, int]:
        """The members' mean left, top, right and bottom edges, in whole pixels."""
        n = len(self.members)
        left = sum(b["left"] for b in self.members) / n
        top = sum(b["top"] for b in self.members) / n
        right = sum(b["left"] + b["width"] for b in self.members) / n
        bottom = sum(b["top"] + b["height"] for b in self.members) / n
        return {"class_id": self.class_id, "left": round(left), "top": round(top),
                "width": max(1, round(right - left)), "height": max(1, round(bottom - top))}


@dataclass(frozen=True)
class ConsolidatedBoxes:
    annotations: list[dict[str, int]]
    confidences: list[float]  # per annotation: the share of workers who drew it

    @property
    def image_confidence(self) -> float:
        """How far the workers agreed on the image: its least agreed object (1 with no objects)."""
        return min(self.confidences, default=1.0)


def consolidate_boxes(answers: Mapping[str, Sequence[Box]]) -> ConsolidatedBoxes:
    """answers: worker id -> that worker's boxes ({"class_id", "left", "top", "width", "height"})."""
    if not answers:
        raise ValueError("no answers to consolidate")
    groups: list[_Group] = []
    for worker in sorted(answers):
        for box in answers[worker]:
            candidates = [
                (overlap, index) for index, group in enumerate(groups)
                if group.class_id == box["class_id"] and worker not in group.workers
                and (overlap := iou(box, group.mean_box())) >= SAME_OBJECT_IOU
            ]
            if candidates:
                group = groups[max(candidates, key=lambda c: (c[0], -c[1]))[1]]
            else:
                group = _Group(box["class_id"])
                groups.append(group)
            group.members.append(box)
            group.workers.add(worker)
    kept = [group for group in groups if 2 * len(group.workers) >= len(answers)]
    return ConsolidatedBoxes(
        annotations=[group.mean_box() for group in kept],
        confidences=[round(len(group.workers) / len(answers), 4) for group in kept],
    )
