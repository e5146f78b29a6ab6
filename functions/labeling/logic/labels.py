"""Label records: one per labeled item, kept in id order in JSON Lines files.

A record is {"id", "label" (class index), "confidence", "human" (bool),
"createdAt"}; human records also keep "workers" (how many answered).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any


class DuplicateLabelError(RuntimeError):
    pass


def merged_by_id(*sources: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Merge id-ordered label files into one id-ordered stream; an item labeled twice is a bug."""
    previous = None
    for record in heapq.merge(*sources, key=lambda r: r["id"]):
        if previous is not None and record["id"] == previous:
            raise DuplicateLabelError(f"item {record['id']} was labeled twice")
        previous = record["id"]
        yield record
