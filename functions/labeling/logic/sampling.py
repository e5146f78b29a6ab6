"""Choosing which items go to human workers."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Sequence
from typing import Any


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


def margin(scores: Sequence[float]) -> float:
    """Top score minus runner-up: small means the model can hardly tell two classes apart."""
    top_two = heapq.nlargest(2, scores)
    return top_two[0] - (top_two[1] if len(top_two) > 1 else 0.0)


def most_ambiguous(items: Iterable[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """The `size` items with the smallest margin (ties broken by id, so runs repeat)."""
    return heapq.nsmallest(size, items, key=lambda item: (item["margin"], item["id"]))
