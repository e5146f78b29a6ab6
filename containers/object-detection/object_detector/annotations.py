"""Ground Truth's bounding-box label, read from a training line and written in an answer.

The label is exactly the value of a Ground Truth bounding-box attribute:
    {"image_size": [{"width": W, "height": H, "depth": 3}],
     "annotations": [{"class_id": int, "left": int, "top": int, "width": int, "height": int}, ...]}
Boxes are in pixels of the original image, (left, top) its top-left corner. image_size
is informational: the decoded image's own size is what boxes are measured against.
"""
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml_container.training import TrainingError, is_int

FIELDS = ("class_id", "left", "top", "width", "height")


@dataclass
class Boxes:
    """An image's boxes: classes (n, int) and left/top/right/bottom rows (n x 4, original pixels)."""
    classes: np.ndarray
    corners: np.ndarray


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) and np.isfinite(value)


def parse_label(label: Any, label_count: int, origin: str) -> Boxes:
    """A training line's `label`, checked; a problem raises TrainingError naming the line and the fix."""
    if not isinstance(label, dict) or not isinstance(label.get("annotations"), list):
        raise TrainingError(
            f"{origin}: 'label' must be a Ground Truth bounding-box label, an object with an 'annotations' "
            f"list (empty for an image without objects), got {str(label)[:200]}")
    if "image_size" in label and not isinstance(label["image_size"], list):
        raise TrainingError(f"{origin}: 'image_size' must be a list like [{{\"width\": W, \"height\": H, "
                            f"\"depth\": 3}}], got {label['image_size']!r}")
    classes, corners = [], []
    for number, box in enumerate(label["annotations"], start=1):
        where = f"{origin}: annotation {number}"
        if not isinstance(box, dict):
            raise TrainingError(f"{where} must be an object with {', '.join(FIELDS)}, got {box!r}")
        missing = [name for name in FIELDS if name not in box]
        if missing:
            raise TrainingError(f"{where} lacks {', '.join(missing)} (each box needs {', '.join(FIELDS)})")
        class_id = box["class_id"]
        if not is_int(class_id) or not 0 <= class_id < label_count:
            raise TrainingError(f"{where}: 'class_id' must be an integer in [0, {label_count}) (label_count "
                                f"{label_count}), got {class_id!r}; fix the label or raise label_count")
        for name in FIELDS[1:]:
            if not _number(box[name]):
                raise TrainingError(f"{where}: {name!r} must be a number of pixels, got {box[name]!r}")
        for name in ("width", "height"):
            if box[name] <= 0:
                raise TrainingError(f"{where}: {name!r} must be > 0 pixels, got {box[name]!r}; "
                                    f"a box is left, top, width, height with the size positive")
        classes.append(class_id)
        corners.append([box["left"], box["top"], box["left"] + box["width"], box["top"] + box["height"]])
    return Boxes(np.array(classes, dtype=np.int64), np.array(corners, dtype=np.float64).reshape(-1, 4))


def to_input(boxes: Boxes, width: int, height: int, input_size: int, origin: str) -> tuple[np.ndarray, np.ndarray]:
    """Classes and x1 y1 x2 y2 boxes in the network's input pixels (the image squeezed to
    input_size square), clipped to the image; a box wholly outside it is an error."""
    clipped = np.clip(boxes.corners, 0, [width, height, width, height])
    for number, (x1, y1, x2, y2) in enumerate(clipped, start=1):
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            left, top, right, bottom = boxes.corners[number - 1]
            raise TrainingError(
                f"{origin}: annotation {number} (left {left:g}, top {top:g}, width {right - left:g}, "
                f"height {bottom - top:g}) lies outside the {width} x {height} image; boxes are in the "
                f"original image's pixels")
    scale = np.array([input_size / width, input_size / height] * 2)
    return boxes.classes, (clipped * scale).astype(np.float32)


def answer(classes: np.ndarray, boxes: np.ndarray, width: int, height: int, input_size: int) -> dict:
    """The label for boxes in input pixels: whole original-image pixels, inside the image, at least 1 x 1."""
    scale = np.array([width / input_size, height / input_size] * 2)
    rounded = np.rint(boxes.astype(np.float64) * scale).astype(np.int64).reshape(-1, 4)
    left = np.clip(rounded[:, 0], 0, width - 1)
    top = np.clip(rounded[:, 1], 0, height - 1)
    right = np.clip(rounded[:, 2], left + 1, width)
    bottom = np.clip(rounded[:, 3], top + 1, height)
    return {
        "image_size": [{"width": int(width), "height": int(height), "depth": 3}],
        "annotations": [
            {"class_id": int(c), "left": int(x), "top": int(y), "width": int(r - x), "height": int(b - y)}
            for c, x, y, r, b in zip(classes, left, top, right, bottom, strict=True)
        ],
    }
