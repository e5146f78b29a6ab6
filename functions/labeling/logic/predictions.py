"""Reading batch-transform output next to its input."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import zip_longest
from typing import Any

from labeling.layout import split_s3_uri


class PredictionCountError(RuntimeError):
    pass


def prediction_key(output_uri: str, input_key: str) -> str:
    """SageMaker batch transform writes `<input file name>.out` under the output path."""
    _, prefix = split_s3_uri(output_uri)
    return prefix.rstrip("/") + "/" + input_key.rsplit("/", 1)[-1] + ".out"


def paired_with_predictions(
    items: Iterable[dict[str, Any]], predictions: Iterable[dict[str, Any]], what: str
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Batch transform keeps line order (SplitType Line, AssembleWith Line): pair them up."""
    missing = object()
    for index, (item, prediction) in enumerate(zip_longest(items, predictions, fillvalue=missing)):
        if item is missing or prediction is missing:
            raise PredictionCountError(
                f"the {what} and its predictions differ in length at line {index + 1}; "
                "the transform job must emit one prediction per input line"
            )
        yield item, prediction
