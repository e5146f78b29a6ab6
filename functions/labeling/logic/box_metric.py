"""How good a model's bounding boxes are against a human's: IoU, one-to-one matching, image quality.

The box promise (box_quality.py) is a bound on the mean of image_quality, with these definitions:

  * IoU of two boxes ({"class_id", "left", "top", "width", "height"}, pixels): area of
    the intersection over area of the union; the class is not part of it.
  * Image quality of the model's boxes against the human boxes: boxes are matched one
    to one within a class, greedily by IoU (the pair of highest IoU first, then the
    highest among the boxes left, as PASCAL VOC and COCO match detections); quality =
    sum of the matched IoUs / max(#model boxes, #human boxes). A missed box and a
    spurious box both count as IoU 0, so an image scores 1 only when every box is
    drawn exactly and nothing else is. Greedy matching can sum to less than the best
    one-to-one assignment (Hungarian), never more, so a promise kept on greedy quality
    is kept on the best assignment's too.
  * An image without boxes on either side scores 1: the model saw correctly that there
    is nothing to draw, which is exactly the human's answer (and 0 / 0 needs a value;
    0 would send every empty image to humans).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Box = Mapping[str, float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes; 0 when they do not overlap or have no area."""
    width = min(a["left"] + a["width"], b["left"] + b["width"]) - max(a["left"], b["left"])
    height = min(a["top"] + a["height"], b["top"] + b["height"]) - max(a["top"], b["top"])
    if width <= 0 or height <= 0:
        return 0.0
    intersection = width * height
    union = a["width"] * a["height"] + b["width"] * b["height"] - intersection
    return intersection / union


def match_boxes(predicted: Sequence[Box], human: Sequence[Box]) -> list[tuple[int, int, float]]:
    """One-to-one (predicted index, human index, IoU) pairs of the same class, greedily by IoU."""
    pairs = sorted(
        ((overlap, p, h) for p, box in enumerate(predicted) for h, truth in enumerate(human)
         if box["class_id"] == truth["class_id"] and (overlap := iou(box, truth)) > 0.0),
        key=lambda pair: (-pair[0], pair[1], pair[2]),  # ties by position, so the result is reproducible
    )
    used_predicted: set[int] = set()
    used_human: set[int] = set()
    matches = []
    for overlap, p, h in pairs:
        if p not in used_predicted and h not in used_human:
            used_predicted.add(p)
            used_human.add(h)
            matches.append((p, h, overlap))
    return matches


def image_quality(predicted: Sequence[Box], human: Sequence[Box]) -> float:
    """Sum of matched IoUs / max(#predicted, #human); 1 when neither side has a box (module doc)."""
    if not predicted and not human:
        return 1.0
    matched = sum(overlap for _, _, overlap in match_boxes(predicted, human))
    return matched / max(len(predicted), len(human))
