"""Reading batch-transform output next to its input."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import zip_longest
from typing import Any

from labeling.layout import split_s3_uri


class PredictionCountError(RuntimeError):
    pass


def prediction_key(output_uri: str, input_key: str, input_prefix: str | None = None) -> str:
    """SageMaker batch transform writes `<input key relative to the input prefix>.out` under the output path.

    A prefix that is a folder ("pool/") counts from it; one that is none (a whole key, the default)
    from the folder it is in, so it is the input file's name.
    """
    _, prefix = split_s3_uri(output_uri)
    source = input_key if input_prefix is None else input_prefix
    folder = source if source.endswith("/") else source.rpartition("/")[0] + "/"
    relative = input_key[len(folder):] if folder != "/" else input_key
    return prefix.rstrip("/") + "/" + relative + ".out"


def paired_with_predictions(
    items: Iterable[dict[str, Any]], predictions: Iterable[dict[str, Any]], what: str
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Batch transform keeps line order (SplitType Line, AssembleWith Line): pair them up."""
    missing: dict[str, Any] = {}  # a sentinel: compared by identity
    for index, (item, prediction) in enumerate(zip_longest(items, predictions, fillvalue=missing)):
        if item is missing or prediction is missing:
            raise PredictionCountError(
                f"the {what} and its predictions differ in length at line {index + 1}; "
                "the transform job must emit one prediction per input line"
            )
        yield item, prediction
