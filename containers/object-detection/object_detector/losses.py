"""The three heads' losses: focal loss on the centre heatmap, GIoU on the boxes, and a
cross-entropy teaching the quality head the IoU each box actually achieves."""
import torch
from torch import nn

from .network import STRIDE

# The box loss's weight against the heatmap's, TTFNet's: a GIoU loss is at most 2 per object,
# a focal loss sums over every cell, and the boxes need the larger share to become precise.
BOX_WEIGHT = 5.0


def centre_focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, summed and divided by the number of centres."""
    probability = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    centre = target.eq(1.0).float()
    positive = -torch.log(probability) * (1 - probability) ** 2 * centre
    negative = -torch.log(1 - probability) * probability ** 2 * (1 - target) ** 4 * (1 - centre)
    return (positive.sum() + negative.sum()) / centre.sum().clamp(min=1.0)


def cell_centres(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """x and y of every map cell's centre in input pixels, each size x size."""
    centres = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) * STRIDE
    return centres.view(1, size).expand(size, size), centres.view(size, 1).expand(size, size)


def boxes_from_distances(distances: torch.Tensor) -> torch.Tensor:
    """N x 4 x M x M (left, top, right, bottom distances) -> N x 4 x M x M (x1, y1, x2, y2)."""
    x, y = cell_centres(distances.shape[-1], distances.device)
    left, top, right, bottom = distances.unbind(1)
    return torch.stack([x - left, y - top, x + right, y + bottom], dim=1)


def iou_and_giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and generalised IoU of boxes a and b (... x 4, x1 y1 x2 y2), elementwise."""
    area_a = (a[..., 2] - a[..., 0]).clamp(min=0) * (a[..., 3] - a[..., 1]).clamp(min=0)
    area_b = (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    width = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    height = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    intersection = width * height
    union = (area_a + area_b - intersection).clamp(min=1e-6)
    iou = intersection / union
    hull = ((torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0]))
            * (torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1]))).clamp(min=1e-6)
    return iou, iou - (hull - union) / hull


def detection_loss(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-head losses for a batch; `total` is what training minimises."""
    heat = centre_focal_loss(outputs["heatmap"].float(), targets["heatmap"])
    weight = targets["weight"]
    cells = weight > 0
    objects = targets["heatmap"].eq(1.0).sum().clamp(min=1.0)
    if cells.any():
        predicted = boxes_from_distances(outputs["distances"].float()).permute(0, 2, 3, 1)[cells]
        wanted = targets["box"].permute(0, 2, 3, 1)[cells]
        iou, giou = iou_and_giou(predicted, wanted)
        box = ((1 - giou) * weight[cells]).sum() / objects
        # The quality head learns the IoU its cell's box reaches (a fixed target: no gradient into the box).
        quality = (nn.functional.binary_cross_entropy_with_logits(
            outputs["quality"][:, 0][cells].float(), iou.detach(), reduction="none") * weight[cells]).sum() / objects
    else:  # no object in the batch: only the heatmap learns (that nothing is there)
        box = quality = outputs["distances"].sum() * 0.0
    return {"heatmap": heat, "box": box, "quality": quality, "total": heat + BOX_WEIGHT * box + quality}
