"""Training targets on the stride-4 map, from an image's boxes (TTFNet's recipe).

Boxes here are (x1, y1, x2, y2) in the network's input pixels, continuous coordinates
(a pixel k spans [k, k + 1)); map cell (i, j) covers input pixels [j*STRIDE, (j+1)*STRIDE)
across and its centre is at ((j + 0.5) * STRIDE, (i + 0.5) * STRIDE).
  * heatmap, per class: 1 at the cell holding the box's centre, falling off as an
    elliptic Gaussian the shape of the box (sigma = HEAT_SPREAD * side / 6), so that a
    near miss costs less than a far one (CenterNet's penalty-reduced focal loss).
  * box: the cells of a smaller Gaussian around the centre (BOX_SPREAD) all learn to
    draw the whole box, weighted by that Gaussian, each object's weights summing to 1:
    many samples per object instead of one, which is what lets TTFNet train in a few
    epochs. Where objects' areas overlap, the smaller object wins the cell (drawn last).
"""
import numpy as np

from .network import STRIDE

HEAT_SPREAD = 0.54  # TTFNet's alpha
BOX_SPREAD = 0.54  # TTFNet's beta


def _gaussian(size: int, centre_x: float, centre_y: float, sigma_x: float, sigma_y: float) -> np.ndarray:
    positions = np.arange(size, dtype=np.float64)
    across = np.exp(-((positions - centre_x) ** 2) / (2 * sigma_x ** 2))
    down = np.exp(-((positions - centre_y) ** 2) / (2 * sigma_y ** 2))
    return np.outer(down, across)


def build(boxes: np.ndarray, classes: np.ndarray, label_count: int, input_size: int) -> dict[str, np.ndarray]:
    """heatmap (label_count x M x M), box (4 x M x M: the x1, y1, x2, y2 each cell should
    draw) and weight (M x M) for one image; M = input_size / STRIDE."""
    size = input_size // STRIDE
    heatmap = np.zeros((label_count, size, size), dtype=np.float32)
    box = np.zeros((4, size, size), dtype=np.float32)
    weight = np.zeros((size, size), dtype=np.float32)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for index in np.argsort(-areas, kind="stable"):  # largest first: smaller boxes overwrite shared cells
        x1, y1, x2, y2 = boxes[index]
        width, height = (x2 - x1) / STRIDE, (y2 - y1) / STRIDE  # in cells
        cell_x = min(int((x1 + x2) / 2 / STRIDE), size - 1)
        cell_y = min(int((y1 + y2) / 2 / STRIDE), size - 1)
        spread = _gaussian(size, cell_x, cell_y, max(HEAT_SPREAD * width / 6, 0.3), max(HEAT_SPREAD * height / 6, 0.3))
        heatmap[classes[index]] = np.maximum(heatmap[classes[index]], spread)
        heatmap[classes[index], cell_y, cell_x] = 1.0
        # The box area: cells whose centres lie within BOX_SPREAD of the box around its centre.
        centres = (np.arange(size) + 0.5) * STRIDE
        middle_x, middle_y = (x1 + x2) / 2, (y1 + y2) / 2
        inside = np.outer(np.abs(centres - middle_y) <= BOX_SPREAD * (y2 - y1) / 2,
                          np.abs(centres - middle_x) <= BOX_SPREAD * (x2 - x1) / 2)
        inside[cell_y, cell_x] = True  # however small the box, its centre cell draws it
        area = _gaussian(size, (middle_x / STRIDE) - 0.5, (middle_y / STRIDE) - 0.5,
                         max(BOX_SPREAD * width / 6, 0.3), max(BOX_SPREAD * height / 6, 0.3)) * inside
        area /= area.sum()
        box[:, area > 0] = np.array([x1, y1, x2, y2], dtype=np.float32)[:, None]
        weight[area > 0] = area[area > 0]
    return {"heatmap": heatmap, "box": box, "weight": weight}
