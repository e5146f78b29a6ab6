"""SageMaker training entry point: embed the `train` channel, fit, save to model/.

Contract: hyperparameters.json (all values strings, as SageMaker writes them) holds
`label_count` (required) and `C` (default 10.0); input/data/train/**/*.jsonl holds
lines {"id": int, "source": str, "label": int}. On failure the reason goes to
output/failure and the process exits 1.
"""
import time
from pathlib import Path

import numpy as np

from ml_container import training
from ml_container.paths import MlPaths
from ml_container.training import TrainingError, is_int

from . import classifier
from .embedding import MODEL_NAME, Embedder

CHANNEL = "train"
DEFAULT_C = 10.0


def read_hyperparameters(path: Path) -> tuple[int, float]:
    raw = training.read_hyperparameter_file(path)
    try:
        label_count = int(str(raw["label_count"]).strip())
    except ValueError:
        raise TrainingError(f"hyperparameter 'label_count' must be an integer, got {raw['label_count']!r}") from None
    try:
        C = float(str(raw.get("C", DEFAULT_C)).strip())
    except ValueError:
        raise TrainingError(f"hyperparameter 'C' must be a number, got {raw['C']!r}") from None
    if label_count < 1:
        raise TrainingError(f"hyperparameter 'label_count' must be >= 1, got {label_count}")
    if not C > 0:
        raise TrainingError(f"hyperparameter 'C' must be > 0, got {C}")
    return label_count, C


def read_items(channel: Path, label_count: int) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for origin, item in training.channel_items(channel):
        source = item.get("source") if isinstance(item, dict) else None
        label = item.get("label") if isinstance(item, dict) else None
        if not isinstance(source, str):
            raise TrainingError(f"{origin}: 'source' must be a string")
        if not is_int(label) or not 0 <= label < label_count:
            raise TrainingError(f"{origin}: 'label' must be an integer in [0, {label_count}), got {label!r}")
        texts.append(source)
        labels.append(label)
    if not texts:
        raise TrainingError(f"training channel {channel} holds no items")
    return texts, np.array(labels, dtype=np.int64)


def train(paths: MlPaths) -> None:
    started = time.monotonic()
    # Validate the cheap inputs before paying for the embedding model.
    label_count, C = read_hyperparameters(paths.hyperparameters)
    texts, labels = read_items(paths.channel(CHANNEL), label_count)
    embedder = Embedder.from_env()
    estimator = classifier.fit(embedder.encode(texts), labels, C)
    classes = sorted(int(c) for c in np.unique(labels))
    classifier.save(paths.model_dir, estimator, {
        "label_count": label_count,
        "embedding_model": MODEL_NAME,
        "training_items": len(texts),
        "classes": classes,
        "C": C,
    })
    print(
        f"trained on {len(texts)} items, {len(classes)}/{label_count} classes "
        f"({embedder.embedded} texts embedded, {embedder.cached} cached) "
        f"in {time.monotonic() - started:.1f}s"
    )


def main() -> None:
    training.main(train)
