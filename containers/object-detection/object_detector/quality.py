"""Image quality of predicted boxes against true ones, as the labeling pipeline scores it
(functions/labeling/logic/box_metric.py, repeated here because a container cannot import
the pipeline's code): boxes matched one to one within a class, greedily by IoU; quality =
sum of matched IoUs / max(#predicted, #true), 1 when neither side has a box.

Boxes here are (class, x1, y1, x2, y2) rows in any one frame of pixels.
"""
import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """len(a) x len(b) IoUs of x1 y1 x2 y2 boxes."""
    width = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    height = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    intersection = width * height
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


def match(predicted_classes: np.ndarray, predicted: np.ndarray, true_classes: np.ndarray,
          true: np.ndarray) -> list[tuple[int, int, float]]:
    """(predicted index, true index, IoU) pairs of the same class, greedily by IoU, IoU > 0."""
    if len(predicted) == 0 or len(true) == 0:
        return []
    overlaps = iou_matrix(predicted, true) * (predicted_classes[:, None] == true_classes[None, :])
    pairs = sorted(((overlaps[p, t], p, t) for p, t in zip(*np.nonzero(overlaps > 0), strict=True)),
                   key=lambda pair: (-pair[0], pair[1], pair[2]))
    used_predicted, used_true, matches = set(), set(), []
    for overlap, p, t in pairs:
        if p not in used_predicted and t not in used_true:
            used_predicted.add(p)
            used_true.add(t)
            matches.append((int(p), int(t), float(overlap)))
    return matches


def image_quality(predicted_classes: np.ndarray, predicted: np.ndarray, true_classes: np.ndarray,
                  true: np.ndarray) -> float:
    if len(predicted) == 0 and len(true) == 0:
        return 1.0
    matched = sum(overlap for _, _, overlap in match(predicted_classes, predicted, true_classes, true))
    return matched / max(len(predicted), len(true))
