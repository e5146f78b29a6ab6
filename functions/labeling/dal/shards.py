"""JSON Lines written as shards under a folder, for a batch transform to spread over its instances.

A sharded file is a folder (a key ending in "/") of part-00000.jsonl, part-00001.jsonl, ...: each
a contiguous run of the lines, so reading the parts in key order gives the lines in the order they
were written, whatever their number. SageMaker writes the output of part X as <output path>/X.out
(logic/predictions.py), so each part is paired with its own predictions.

Readers also take a plain key (a single JSON Lines object, such as ApplyThreshold's remaining.jsonl).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from labeling.dal import s3
from labeling.layout import split_s3_uri
from labeling.logic.predictions import paired_with_predictions, prediction_key

SHARD_NAME = "part-{:05d}.jsonl"


def shard_keys(bucket: str, key: str) -> list[str]:
    """The objects a sharded file (a folder key) or a plain key is made of, in order."""
    if not key.endswith("/"):
        return [key]
    return sorted(k for k in s3.list_keys(bucket, key) if k[len(key):].startswith("part-"))


def read_jsonl(bucket: str, key: str) -> Iterator[dict[str, Any]]:
    for part in shard_keys(bucket, key):
        yield from s3.read_jsonl(bucket, part)


def read_with_predictions(data_uri: str, output_uri: str, what: str
                          ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each input line with its prediction, shard by shard, in the input's order."""
    bucket, key = split_s3_uri(data_uri)
    parts = shard_keys(bucket, key)
    if not parts:
        raise FileNotFoundError(f"no shard of the {what} under {data_uri}")
    for part in parts:
        yield from paired_with_predictions(
            s3.read_jsonl(bucket, part),
            s3.read_jsonl(bucket, prediction_key(output_uri, part, input_prefix=key)),
            what=f"{what} (s3://{bucket}/{part})",
        )


class ShardedJsonlWriter:
    """Write lines as shards of at most `rows_per_shard` lines under `prefix` (a folder key).

    At least one shard is written, empty when no line is: a transform needs an object to read, and
    a reader finds the file. `count` is the lines written, `shards` the parts.
    """

    def __init__(self, bucket: str, prefix: str, rows_per_shard: int):
        if not prefix.endswith("/"):
            raise ValueError(f"shards go under a folder key ending in '/', not {prefix!r}")
        self.bucket, self.prefix, self.rows_per_shard = bucket, prefix, max(1, rows_per_shard)
        self.count, self.shards = 0, 0
        self._writer: s3.JsonlWriter | None = None

    def _next_shard(self) -> None:
        self._close_shard()
        self._writer = s3.JsonlWriter(self.bucket, self.prefix + SHARD_NAME.format(self.shards))
        self._writer.__enter__()
        self.shards += 1

    def _close_shard(self, *exc: Any) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.__exit__(*(exc or (None, None, None)))

    def write(self, record: dict[str, Any]) -> None:
        if self._writer is None or self._writer.count >= self.rows_per_shard:
            self._next_shard()
        assert self._writer is not None  # _next_shard opened it
        self._writer.write(record)
        self.count += 1

    def __enter__(self) -> ShardedJsonlWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None and self._writer is None:
            self._next_shard()  # no line: one empty shard
        self._close_shard(*exc)
