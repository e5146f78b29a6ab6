"""What every training entry point does alike: hyperparameters, channel lines, failure reporting.

A TrainingError is a problem with the job's inputs: its message, which names the item and
the fix, goes verbatim to output/failure (SageMaker's FailureReason). Anything else is a bug:
its traceback goes to the log and its type and message to output/failure.
"""
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .paths import MlPaths


class TrainingError(Exception):
    """A problem with the job's inputs; its message is written verbatim to output/failure."""


def read_hyperparameter_file(path: Path) -> dict[str, Any]:
    """hyperparameters.json as SageMaker writes it (all values strings); label_count is required."""
    raw = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if "label_count" not in raw:
        raise TrainingError(f"hyperparameter 'label_count' is required (not found in {path})")
    return raw


def parse(raw: dict[str, Any], name: str, default: Any, convert: Callable[[str], Any],
          valid: Callable[[Any], bool], expected: str) -> Any:
    """raw[name] converted and checked, or `default` when absent; `expected` says what is allowed."""
    if name not in raw:
        return default
    try:
        value = convert(str(raw[name]).strip())
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise TrainingError(f"hyperparameter {name!r} must be {expected}, got {raw[name]!r}")
    return value


def channel_items(channel: Path) -> Iterator[tuple[str, Any]]:
    """(origin, decoded JSON) per non-blank line of channel/**/*.jsonl, files in name order;
    origin ("part-0.jsonl line 3") names the line in error messages."""
    files = sorted(channel.rglob("*.jsonl")) if channel.is_dir() else []
    if not files:
        raise TrainingError(f"no *.jsonl files in training channel {channel}")
    for file in files:
        name = file.relative_to(channel)
        # Lines end at "\n" only (records.py says why): text mode would also end one at "\r".
        with file.open(encoding="utf-8", newline="\n") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    yield f"{name} line {number}", json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TrainingError(f"{name} line {number}: invalid JSON ({exc})") from None


def is_int(value: Any) -> bool:
    # bool is an int subclass; True is not a label or a pixel count.
    return isinstance(value, int) and not isinstance(value, bool)


def main(train: Callable[[MlPaths], None]) -> None:
    """Run `train` on the job's paths; on failure write output/failure and exit 1."""
    paths = MlPaths.from_env()
    try:
        train(paths)
    except TrainingError as exc:
        paths.write_failure(str(exc))
        print(f"training failed: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        traceback.print_exc()
        paths.write_failure(f"training failed: {type(exc).__name__}: {exc}")
        sys.exit(1)
