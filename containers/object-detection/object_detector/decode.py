"""From the heads' maps to candidate boxes: local maxima of the centre heatmap.

A cell is a candidate when its class probability is the highest in its 3 x 3
neighbourhood (CenterNet's max-pool "NMS"); the best `candidates` per image, all
classes together, come back with their box (drawn by that cell) and estimated IoU.
Which candidates become boxes is the caller's choice (the detection cut).
"""
from dataclasses import dataclass

import torch
from torch import nn

from .losses import boxes_from_distances


@dataclass
class Candidates:
    """Per image (N) the top K candidates, best first."""
    scores: torch.Tensor  # N x K, centre probability
    classes: torch.Tensor  # N x K, int
    boxes: torch.Tensor  # N x K x 4, x1 y1 x2 y2 in input pixels
    quality: torch.Tensor  # N x K, estimated IoU of the box with its object


def candidates(outputs: dict[str, torch.Tensor], count: int) -> Candidates:
    heat = torch.sigmoid(outputs["heatmap"].float())
    n, classes, size, _ = heat.shape
    peaks = heat * (nn.functional.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    scores, index = peaks.reshape(n, -1).topk(min(count, classes * size * size), dim=1)
    cell = index % (size * size)
    boxes = boxes_from_distances(outputs["distances"].float()).reshape(n, 4, -1)
    quality = torch.sigmoid(outputs["quality"].float()).reshape(n, -1)
    return Candidates(
        scores=scores,
        classes=index // (size * size),
        boxes=boxes.gather(2, cell.unsqueeze(1).expand(n, 4, cell.shape[1])).transpose(1, 2),
        quality=quality.gather(1, cell),
    )
