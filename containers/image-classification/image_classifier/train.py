"""SageMaker training entry point: read the `train` channel's images, fine-tune, save to model/.

Contract: hyperparameters.json (all values strings, as SageMaker writes them) holds
`label_count` (required) and optionally:
  image_size      "auto" (default: 96 px for images up to 64 px on their short side, 128 up
                  to 160, else 224, from the median image; ml_container/sources.py says why) or a side in pixels, 32-512
  fine_tune       "auto" (default: "all" on a GPU, and on a CPU while the run is small, else "top";
                  finetune.py says why), "top", "all"
  epochs          most epochs: "auto" (default: 12, more for a small training set so that it takes
                  at least 240 optimizer steps; finetune.epochs_for) or a number; training stops
                  earlier when the held-out loss stalls (500 items or more: finetune.MIN_HOLDOUT_ITEMS)
  patience        epochs without held-out improvement before stopping (default 4)
  batch_size      default 64
  learning_rate   peak of the one-cycle schedule (default 0.001 for "top", 0.003 for "all": the
                  better of the two on 1,000 digit images in each mode)
  holdout_fraction  share of the items held out for early stopping and calibration (default 0.15), from
                  500 items up; a smaller training set trains on every item
  seed            default 0; the same data and seed train the same model on the same device
input/data/train/**/*.jsonl holds lines {"id": int, "source-ref": str, "label": int}, the
image at source-ref being an s3:// URI, a file:// URI or a local path. On failure the
reason goes to output/failure and the process exits 1; on a GPU instance
(resourceconfig.json) whose GPUs torch cannot use, it does so before reading anything else
(ml_container/torch_runtime.training_device).
"""
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ml_container import sources, training
from ml_container.paths import MlPaths
from ml_container.torch_runtime import training_device
from ml_container.training import TrainingError, is_int, parse

from . import finetune, network

CHANNEL = "train"
SOURCE_KEY = "source-ref"
FINE_TUNE_CHOICES = ("auto", "top", "all")


def read_hyperparameters(path: Path) -> dict[str, Any]:
    raw = training.read_hyperparameter_file(path)

    def auto_or_int(text: str) -> str | int:
        return text if text == "auto" else int(text)

    return {
        "label_count": parse(raw, "label_count", None, int, lambda v: v >= 1, "an integer >= 1"),
        "image_size": parse(raw, "image_size", "auto", auto_or_int, lambda v: v == "auto" or 32 <= v <= 512,
                            "'auto' or an integer from 32 to 512"),
        "fine_tune": parse(raw, "fine_tune", "auto", str, lambda v: v in FINE_TUNE_CHOICES,
                           f"one of {', '.join(FINE_TUNE_CHOICES)}"),
        "epochs": parse(raw, "epochs", "auto", auto_or_int, lambda v: v == "auto" or 1 <= v <= 1000,
                        "'auto' or an integer from 1 to 1000"),
        "patience": parse(raw, "patience", 4, int, lambda v: v >= 1, "an integer >= 1"),
        "batch_size": parse(raw, "batch_size", 64, int, lambda v: 2 <= v <= 4096, "an integer from 2 to 4096"),
        "learning_rate": parse(raw, "learning_rate", None, float, lambda v: 0 < v < 1, "a number in (0, 1)"),
        "holdout_fraction": parse(raw, "holdout_fraction", 0.15, float, lambda v: 0 <= v < 1,
                                  "a number in [0, 1)"),
        "seed": parse(raw, "seed", 0, int, lambda v: v >= 0, "an integer >= 0"),
    }


def read_items(channel: Path, label_count: int) -> tuple[list[str], np.ndarray, list[str]]:
    """source-refs, labels, and where each came from ("file line N"), for error messages."""
    refs, labels, origins = [], [], []
    for origin, item in training.channel_items(channel):
        source = item.get(SOURCE_KEY) if isinstance(item, dict) else None
        label = item.get("label") if isinstance(item, dict) else None
        if not isinstance(source, str) or not source:
            raise TrainingError(f"{origin}: '{SOURCE_KEY}' must be a non-empty string")
        if not is_int(label) or not 0 <= label < label_count:
            raise TrainingError(f"{origin}: 'label' must be an integer in [0, {label_count}), got {label!r}")
        refs.append(source)
        labels.append(label)
        origins.append(origin)
    if not refs:
        raise TrainingError(f"training channel {channel} holds no items")
    return refs, np.array(labels, dtype=np.int64), origins


def load_images(refs: list[str], origins: list[str], image_size: str | int) -> tuple[np.ndarray, int]:
    """Every training image at the chosen resolution (N x S x S x 3 uint8) and that resolution."""
    try:
        blobs = sources.fetch_many(refs)
        if image_size == "auto":
            image_size = sources.auto_size([sources.short_side(r, b) for r, b in zip(refs, blobs, strict=True)])
        return sources.load_many(refs, image_size, blobs), image_size
    except sources.ImageError as exc:
        raise TrainingError(f"{origins[refs.index(exc.source_ref)]}: {exc}") from None


def train(paths: MlPaths) -> None:
    started = time.monotonic()
    # First, before a minute of reading images: a GPU instance whose GPUs torch cannot use.
    device = training_device(paths)
    # Validate the cheap inputs before reading any image.
    hp = read_hyperparameters(paths.hyperparameters)
    refs, labels, origins = read_items(paths.channel(CHANNEL), hp["label_count"])
    images, image_size = load_images(refs, origins, hp["image_size"])
    loaded = time.monotonic()
    settings = finetune.Settings(
        image_size=image_size, fine_tune=hp["fine_tune"],
        max_epochs=None if hp["epochs"] == "auto" else hp["epochs"], patience=hp["patience"],
        batch_size=hp["batch_size"], learning_rate=hp["learning_rate"],
        holdout_fraction=hp["holdout_fraction"], seed=hp["seed"],
    )
    classes = sorted(int(c) for c in np.unique(labels))
    print(f"{len(refs)} images read at {image_size} px in {loaded - started:.1f}s; training on {device}", flush=True)
    model = network.Network(hp["label_count"], classes)
    model.load_pretrained_backbone()
    report = finetune.fit(model, images, labels, settings, device, log=lambda m: print(m, flush=True))
    network.save(paths.model_dir, model, {
        "label_count": hp["label_count"],
        "backbone": network.BACKBONE,
        "image_size": image_size,
        "training_items": len(refs),
        "classes": classes,
        "fine_tune": report.fine_tune,
        "settings": asdict(settings),
        "training": asdict(report),
    })
    accuracy = "n/a" if report.holdout_accuracy is None else f"{report.holdout_accuracy:.4f}"
    print(
        f"trained on {len(refs)} items, {len(classes)}/{hp['label_count']} classes, {image_size} px, "
        f"'{report.fine_tune}' on {device}: {report.epochs} of {report.max_epochs} epochs (best {report.best_epoch}), "
        f"held-out accuracy {accuracy} on {report.holdout_items}, temperature {report.temperature:.3f}, "
        f"in {time.monotonic() - started:.1f}s"
    )


def main() -> None:
    training.main(train)
