"""Synthetic object-detection scenes: 1-3 shapes on a textured, noisy background, with exact boxes.

A scene is SIZE x SIZE RGB:
  * background: a random base colour, a smooth texture (a coarse grid of random offsets,
    upsampled bicubically) and, over everything including the shapes, per-pixel noise,
    so a detector has to find the shapes through it;
  * 1 to MAX_SHAPES shapes (CLASSES), each of a random size, colour (at least
    MIN_CONTRAST from the base colour, so every shape is visible) and position; squares
    and triangles are turned by a random angle;
  * shapes never overlap (their regions keep GAP pixels apart), so each box is the whole
    visible object;
  * a box is the bounding box of the pixels its shape covers, read from the shape's mask
    rather than from the drawing call, so it is exact by construction.
All randomness comes from the generator passed in: the same seed draws the same scenes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 128
CLASSES = ("circle", "square", "triangle")
MAX_SHAPES = 3
MIN_EXTENT, MAX_EXTENT = 16, 44  # side of the square region a shape is drawn in, pixels
GAP = 4
MIN_CONTRAST = 120.0  # Euclidean RGB distance between a shape's colour and the base colour
TEXTURE_AMPLITUDE = 20.0
TEXTURE_GRID = 5
NOISE_SD = 6.0
PLACEMENT_TRIES = 50


@dataclass(eq=False)
class Shape:
    class_id: int
    left: int
    top: int
    width: int
    height: int
    mask: np.ndarray  # SIZE x SIZE, True where the shape's pixels are

    def annotation(self) -> dict[str, int]:
        """The box in Ground Truth's bounding-box format."""
        return {"class_id": self.class_id, "left": self.left, "top": self.top,
                "width": self.width, "height": self.height}


@dataclass(eq=False)
class Scene:
    pixels: np.ndarray  # SIZE x SIZE x 3, uint8
    shapes: list[Shape]


def _shape_mask(class_id: int, left: int, top: int, extent: int, angle: float) -> np.ndarray:
    canvas = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(canvas)
    if CLASSES[class_id] == "circle":
        draw.ellipse([left, top, left + extent - 1, top + extent - 1], fill=255)
    else:
        sides = 4 if CLASSES[class_id] == "square" else 3
        radius, center_x, center_y = (extent - 1) / 2, left + (extent - 1) / 2, top + (extent - 1) / 2
        draw.polygon([(center_x + radius * math.cos(angle + 2 * math.pi * k / sides),
                       center_y + radius * math.sin(angle + 2 * math.pi * k / sides)) for k in range(sides)], fill=255)
    return np.asarray(canvas) > 0


def _background(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    channels = []
    for offset in rng.uniform(-TEXTURE_AMPLITUDE, TEXTURE_AMPLITUDE, (3, TEXTURE_GRID, TEXTURE_GRID)):
        coarse = Image.fromarray(offset.astype(np.float32))
        channels.append(np.asarray(coarse.resize((SIZE, SIZE), Image.Resampling.BICUBIC)))
    return base + np.stack(channels, axis=-1)


def _colour(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    while True:
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - base) >= MIN_CONTRAST:
            return colour


def _regions(rng: np.random.Generator, count: int) -> list[tuple[int, int, int]]:
    """(left, top, extent) of up to `count` square regions that keep GAP pixels apart."""
    regions: list[tuple[int, int, int]] = []
    for _ in range(PLACEMENT_TRIES):
        if len(regions) == count:
            break
        extent = int(rng.integers(MIN_EXTENT, MAX_EXTENT + 1))
        left, top = (int(v) for v in rng.integers(0, SIZE - extent + 1, 2))
        if all(left + extent + GAP <= x or x + e + GAP <= left or top + extent + GAP <= y or y + e + GAP <= top
               for x, y, e in regions):
            regions.append((left, top, extent))
    return regions


def draw_scene(rng: np.random.Generator) -> Scene:
    base = rng.uniform(40, 215, 3)
    image = _background(rng, base)
    shapes = []
    for left, top, extent in _regions(rng, int(rng.integers(1, MAX_SHAPES + 1))):
        class_id = int(rng.integers(len(CLASSES)))
        mask = _shape_mask(class_id, left, top, extent, float(rng.uniform(0, 2 * math.pi)))
        image[mask] = _colour(rng, base)
        rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        shapes.append(Shape(class_id, int(columns[0]), int(rows[0]), int(columns[-1] - columns[0] + 1),
                            int(rows[-1] - rows[0] + 1), mask))
    image += rng.normal(0, NOISE_SD, image.shape)
    return Scene(np.clip(np.rint(image), 0, 255).astype(np.uint8), shapes)
