"""SageMaker training entry point: read the `train` channel's images and boxes, train, save to model/.

Contract: hyperparameters.json (all values strings, as SageMaker writes them) holds
`label_count` (required) and optionally:
  image_size      "auto" (default: the median image's longer side rounded up to a multiple of
                  32, from 128 to 512 px) or a side in pixels, 64-1024, a multiple of 16;
                  every image is squeezed to this square
  fine_tune       "auto" (default: "all" on a GPU, "top" on a CPU; fit.py says why), "top", "all"
  epochs          "auto" (default: enough for about UPDATES optimiser steps, 4-30 epochs) or
                  1-1000; training stops earlier when the held-out loss stalls
  patience        epochs without held-out improvement before stopping (default 5)
  batch_size      default 16
  learning_rate   peak of the one-cycle schedule (default 0.003)
  holdout_fraction  share of the images held out for early stopping and score calibration (default 0.15)
  seed            default 0; the same data and seed train the same model on the same device
  flip            training views: "horizontal" (default: each image and its mirror image),
                  "both" (also upside down: aerial, microscopy, diagrams) or "none" (where a
                  mirrored object is another class: text, arrows)
  score_cut       a box is kept when its calibrated score (~ the chance that it is right) is at
                  least this (default SCORE_CUT)
  max_boxes       most boxes kept per image (default 50)
input/data/train/**/*.jsonl holds lines {"id": int, "source-ref": str, "label": <Ground Truth
bounding-box label> (annotations.py)}, the image at source-ref being an s3:// URI, a file://
URI or a local path. On failure the reason goes to output/failure and the process exits 1;
on a GPU instance (resourceconfig.json) whose GPUs torch cannot use, it does so before reading
anything else (ml_container/torch_runtime.training_device).
"""
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ml_container import sources, training
from ml_container.paths import MlPaths
from ml_container.torch_runtime import training_device
from ml_container.training import TrainingError, parse

from . import annotations, fit, network

CHANNEL = "train"
SOURCE_KEY = "source-ref"
FINE_TUNE_CHOICES = ("auto", "top", "all")
# Optimiser steps that "auto" epochs aim for. On shapes scenes (README) quality kept rising up to
# about this many steps of 16 images; 250 scenes then take 20 epochs, 1,000 scenes 5.
UPDATES = 260
MIN_EPOCHS, MAX_EPOCHS = 4, 30
AUTO_SIZE_RANGE = (128, 512)
# Low, because a kept box that is wrong often costs nothing: image quality divides by
# max(#predicted, #true), so while the model has found fewer boxes than there are objects
# an extra box only adds its chance of being right. On 600 held-out shapes scenes, mean
# quality after 250 / 1,000 training scenes: cut 0.5: 0.835 / 0.889, 0.3: 0.863 / 0.896,
# 0.2: 0.873 / 0.899, 0.1: 0.878 / 0.901; the most confident 70% scored the same throughout.
SCORE_CUT = 0.2


def read_hyperparameters(path: Path) -> dict[str, Any]:
    raw = training.read_hyperparameter_file(path)

    def auto_or_int(text: str) -> str | int:
        return text if text == "auto" else int(text)

    return {
        "label_count": parse(raw, "label_count", None, int, lambda v: v >= 1, "an integer >= 1"),
        "image_size": parse(raw, "image_size", "auto", auto_or_int,
                            lambda v: v == "auto" or (64 <= v <= 1024 and v % 16 == 0),
                            "'auto' or a multiple of 16 from 64 to 1024"),
        "fine_tune": parse(raw, "fine_tune", "auto", str, lambda v: v in FINE_TUNE_CHOICES,
                           f"one of {', '.join(FINE_TUNE_CHOICES)}"),
        "epochs": parse(raw, "epochs", "auto", auto_or_int, lambda v: v == "auto" or 1 <= v <= 1000,
                        "'auto' or an integer from 1 to 1000"),
        "patience": parse(raw, "patience", 5, int, lambda v: v >= 1, "an integer >= 1"),
        "batch_size": parse(raw, "batch_size", 16, int, lambda v: 2 <= v <= 1024, "an integer from 2 to 1024"),
        "learning_rate": parse(raw, "learning_rate", 3e-3, float, lambda v: 0 < v < 1, "a number in (0, 1)"),
        "holdout_fraction": parse(raw, "holdout_fraction", 0.15, float, lambda v: 0 <= v < 1,
                                  "a number in [0, 1)"),
        "seed": parse(raw, "seed", 0, int, lambda v: v >= 0, "an integer >= 0"),
        "flip": parse(raw, "flip", "horizontal", str, lambda v: v in fit.VIEWS, f"one of {', '.join(fit.VIEWS)}"),
        "score_cut": parse(raw, "score_cut", SCORE_CUT, float, lambda v: 0 < v < 1, "a number in (0, 1)"),
        "max_boxes": parse(raw, "max_boxes", 50, int, lambda v: 1 <= v <= 1000, "an integer from 1 to 1000"),
    }


def read_items(channel: Path, label_count: int) -> tuple[list[str], list[annotations.Boxes], list[str]]:
    """source-refs, boxes, and where each came from ("file line N"), for error messages."""
    refs, boxes, origins = [], [], []
    for origin, item in training.channel_items(channel):
        if not isinstance(item, dict):
            raise TrainingError(f"{origin}: expected a JSON object with '{SOURCE_KEY}' and 'label'")
        source = item.get(SOURCE_KEY)
        if not isinstance(source, str) or not source:
            raise TrainingError(f"{origin}: '{SOURCE_KEY}' must be a non-empty string")
        boxes.append(annotations.parse_label(item.get("label"), label_count, origin))
        refs.append(source)
        origins.append(origin)
    if not refs:
        raise TrainingError(f"training channel {channel} holds no items")
    return refs, boxes, origins


def auto_size(long_sides: list[int]) -> int:
    """The median image's longer side, rounded up to a multiple of 32, within AUTO_SIZE_RANGE.
    Squeezing to a square keeps every object whole; the upper bound keeps CPU inference
    within a few tens of milliseconds an image."""
    low, high = AUTO_SIZE_RANGE
    median = float(np.median(long_sides)) if long_sides else high
    return int(min(max(math.ceil(median / 32) * 32, low), high))


def load_images(refs: list[str], origins: list[str], image_size: str | int) -> tuple[np.ndarray, np.ndarray, int]:
    """Every training image at the chosen resolution (N x S x S x 3 uint8), each image's
    original (width, height), and that resolution."""
    try:
        blobs = sources.fetch_many(refs)
        if image_size == "auto":
            image_size = auto_size([sources.long_side(r, b) for r, b in zip(refs, blobs, strict=True)])
        images, sizes = sources.load_many_with_sizes(refs, image_size, blobs)
        return images, sizes, image_size
    except sources.ImageError as exc:
        raise TrainingError(f"{origins[refs.index(exc.source_ref)]}: {exc}") from None


def auto_epochs(items: int, holdout_fraction: float, batch_size: int) -> int:
    train_items = len(fit.split(items, holdout_fraction, 0)[0])
    steps_per_epoch = max(1, train_items // batch_size)
    return min(max(math.ceil(UPDATES / steps_per_epoch), MIN_EPOCHS), MAX_EPOCHS)


def train(paths: MlPaths) -> None:
    started = time.monotonic()
    # First, before a minute of reading images: a GPU instance whose GPUs torch cannot use.
    device = training_device(paths)
    # Validate the cheap inputs before reading any image.
    hp = read_hyperparameters(paths.hyperparameters)
    label_count = hp["label_count"]
    refs, boxes, origins = read_items(paths.channel(CHANNEL), label_count)
    images, sizes, image_size = load_images(refs, origins, hp["image_size"])
    truths = [fit.Truth(*annotations.to_input(b, int(w), int(h), image_size, origin))
              for b, (w, h), origin in zip(boxes, sizes, origins, strict=True)]
    loaded = time.monotonic()
    fine_tune = hp["fine_tune"] if hp["fine_tune"] != "auto" else ("all" if device.type == "cuda" else "top")
    epochs = hp["epochs"] if hp["epochs"] != "auto" else auto_epochs(len(refs), hp["holdout_fraction"],
                                                                     hp["batch_size"])
    settings = fit.Settings(
        image_size=image_size, fine_tune=fine_tune, max_epochs=epochs, patience=hp["patience"],
        batch_size=hp["batch_size"], learning_rate=hp["learning_rate"], holdout_fraction=hp["holdout_fraction"],
        seed=hp["seed"], flip=hp["flip"], score_cut=hp["score_cut"], max_boxes=hp["max_boxes"],
    )
    object_count = sum(len(t.classes) for t in truths)
    classes = sorted({int(c) for t in truths for c in t.classes})
    print(f"{len(refs)} images ({object_count} boxes) read at {image_size} px in {loaded - started:.1f}s; "
          f"training '{fine_tune}' on {device}, {epochs} epochs at most", flush=True)
    detector = network.Detector(label_count, classes)
    detector.load_pretrained_backbone()
    report = fit.fit(detector, images, truths, label_count, settings, device, log=lambda m: print(m, flush=True))
    network.save(paths.model_dir, detector, {
        "label_count": label_count,
        "backbone": network.BACKBONE,
        "architecture": network.ARCHITECTURE,
        "image_size": image_size,
        "training_items": len(refs),
        "training_boxes": object_count,
        "classes": classes,
        "fine_tune": fine_tune,
        "score_cut": settings.score_cut,
        "max_boxes": settings.max_boxes,
        "settings": asdict(settings),
        "training": asdict(report),
    })
    quality = "n/a" if report.holdout_quality is None else f"{report.holdout_quality:.3f}"
    print(
        f"trained on {len(refs)} images ({object_count} boxes, {len(classes)}/{label_count} classes), "
        f"{image_size} px, '{fine_tune}' on {device}: {report.epochs} epochs (best {report.best_epoch}), "
        f"held-out mean image quality {quality} on {report.holdout_items}, in {time.monotonic() - started:.1f}s"
    )


def main() -> None:
    training.main(train)
