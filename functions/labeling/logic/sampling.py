"""Choosing which items go to human workers: random samples, and the most ambiguous items."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

SKETCH_BITS = 128  # an item's embedding sketch: a SimHash, 32 hex digits (containers' sketch.py)

# most_ambiguous keeps this many candidates per batch slot, so the near-duplicate guard can
# skip up to (CANDIDATES_PER_SLOT - 1) * size items before it has to let duplicates in.
CANDIDATES_PER_SLOT = 4


def reservoir_sample(items: Iterable[dict[str, Any]], size: int, rng: random.Random) -> list[dict[str, Any]]:
    """A uniform random sample of `size` items from a stream of unknown length (Algorithm R)."""
    sample: list[dict[str, Any]] = []
    for seen, item in enumerate(items):
        if seen < size:
            sample.append(item)
        else:
            slot = rng.randint(0, seen)
            if slot < size:
                sample[slot] = item
    return sample


def ambiguity(scores: Sequence[float], strategy: str) -> float:
    """How unsure the model is about an item, from 0 (certain) to 1; higher = more worth a human label.

    margin: 1 - (top score - runner-up), high when the model can hardly tell two classes apart.
    entropy: Shannon entropy of the scores over log(number of classes), high when the scores
    are spread over many classes.
    """
    if strategy == "margin":
        top_two = heapq.nlargest(2, scores)
        return 1.0 - (top_two[0] - (top_two[1] if len(top_two) > 1 else 0.0))
    if strategy == "entropy":
        total = sum(scores)
        if len(scores) < 2 or total <= 0:
            return 0.0
        entropy = -sum(s / total * math.log(s / total) for s in scores if s > 0)
        return min(1.0, entropy / math.log(len(scores)))
    raise ValueError(f"unknown ambiguity strategy {strategy!r}; use 'margin' or 'entropy'")


def _rank(item: dict[str, Any]) -> tuple[float, int]:
    return -item["ambiguity"], item["id"]


class _SketchIndex:
    """The sketches chosen so far; answers "is this one within max_bits of any of them?".

    Pigeonhole: two sketches that differ in at most max_bits bits agree exactly on at
    least one of max_bits + 1 disjoint bands, so only sketches sharing a band value are
    compared, instead of every chosen one.
    """

    def __init__(self, max_bits: int):
        self.max_bits = max_bits
        bands = max_bits + 1
        self.bands = [(SKETCH_BITS * i // bands, SKETCH_BITS * (i + 1) // bands) for i in range(bands)]
        self.buckets: list[dict[int, list[int]]] = [{} for _ in self.bands]

    def _keys(self, sketch: int) -> Iterator[tuple[int, int]]:
        for band, (low, high) in enumerate(self.bands):
            yield band, (sketch >> low) & ((1 << (high - low)) - 1)

    def near(self, sketch: int) -> bool:
        return any(
            (sketch ^ other).bit_count() <= self.max_bits
            for band, key in self._keys(sketch) for other in self.buckets[band].get(key, ())
        )

    def add(self, sketch: int) -> None:
        for band, key in self._keys(sketch):
            self.buckets[band].setdefault(key, []).append(sketch)


def most_ambiguous(items: Iterable[dict[str, Any]], size: int, *, max_bits: int = 0) -> list[dict[str, Any]]:
    """The `size` most ambiguous items (ties broken by id, so runs repeat), near-duplicates skipped.

    An item whose `sketch` is within `max_bits` bits of an item already chosen is skipped
    (0 turns the guard off; items without a sketch are never duplicates). The stream is
    read once, keeping only the CANDIDATES_PER_SLOT * size most ambiguous items in memory;
    when the guard skips so many that the candidates run out, the batch is filled with the
    most ambiguous of the skipped ones, so it is always full.
    """
    if size <= 0:
        return []
    if not max_bits:
        return heapq.nsmallest(size, items, key=_rank)
    candidates = heapq.nsmallest(CANDIDATES_PER_SLOT * size, items, key=_rank)
    chosen: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    index = _SketchIndex(max_bits)
    for item in candidates:
        if len(chosen) == size:
            break
        sketch = int(item["sketch"], 16) if item.get("sketch") else None
        if sketch is not None and index.near(sketch):
            skipped.append(item)
            continue
        chosen.append(item)
        if sketch is not None:
            index.add(sketch)
    return sorted(chosen + skipped[:size - len(chosen)], key=_rank)
