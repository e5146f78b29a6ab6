"""Reading and checking input manifests (JSON Lines, Ground Truth's format).

An item's id is its position among the manifest's non-blank lines (0, 1, ...), so
every step names an item the same way. A bad line (invalid JSON, not an object, no
item, an empty or non-string item, a text over Ground Truth's limit, an image that is
missing or not an image) keeps its id but becomes no work item: ValidateJob lists it
in the job's invalid-lines file, and WriteOutput writes it back with its reason and
counts it as FailedNonRetryableError, as Ground Truth does. The rest of the job goes on,
unless the bad lines are more than the job's MaxInvalidLinePercentage (or all of them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from labeling.logic import jsonl

# Ground Truth's limit for one text object.
MAX_TEXT_CHARACTERS = 100_000
# How many bad lines an error message lists; the count covers all of them.
MAX_REPORTED_ERRORS = 10
# A "\ud800"-style escape: only then can a parsed line hold a lone surrogate (besides bytes
# that were not UTF-8, which logic/jsonl.py decodes to lone surrogates).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Lines are settled in groups, so that an object check can read many objects at once.
_OBJECT_CHECK_GROUP = 256


_JSON_TYPES = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}


class ManifestError(ValueError):
    """The input manifest cannot be labeled as it is; the message names the lines and the fix."""


@dataclass(frozen=True)
class ManifestLine:
    number: int  # the line's number in the file, from 1, blank lines counted
    item_id: int  # its position among non-blank lines, from 0
    text: str


@dataclass(frozen=True)
class InvalidLine:
    """A manifest line the job cannot label, as the invalid-lines file stores it."""

    item_id: int
    number: int
    reason: str

    def dump(self) -> dict[str, Any]:
        return {"id": self.item_id, "line": self.number, "reason": self.reason}

    @classmethod
    def load(cls, record: dict[str, Any]) -> InvalidLine:
        return cls(record["id"], record["line"], record["reason"])


def manifest_lines(lines: Iterable[str]) -> Iterator[ManifestLine]:
    """The non-blank lines, numbered as in the file and by item id.

    A byte order mark before the first line (Windows tools write one) is not part of it.
    """
    item_id = 0
    for number, text in enumerate(lines, start=1):
        if number == 1:
            text = text.removeprefix("\ufeff")
        if text.strip():
            yield ManifestLine(number, item_id, text)
            item_id += 1


def _has_lone_surrogate(text: str, value: Any) -> bool:
    if not (_LONE_SURROGATE.search(text) or _SURROGATE_ESCAPE.search(text)):
        return False
    return bool(_LONE_SURROGATE.search(json.dumps(value, ensure_ascii=False)))


def _record_problem(record: Any, source_key: str) -> str | None:
    if not isinstance(record, dict):
        return f"is not a JSON object; write one object per line, e.g. {{\"{source_key}\": ...}}"
    other = "source-ref" if source_key == "source" else "source"
    value = record.get(source_key)
    if value is None:
        hint = f" (it has {other!r}, which this task type does not read)" if other in record else ""
        return f"has no {source_key!r} key{hint}; add the item under {source_key!r}"
    if not isinstance(value, str):
        return f"{source_key!r} must be a string, not {_JSON_TYPES.get(type(value), 'null')}"
    if not value.strip():
        return f"{source_key!r} must be a non-empty string"
    if len(value) > MAX_TEXT_CHARACTERS:
        return (f"{source_key!r} has {len(value):,} characters, over Ground Truth's limit of "
                f"{MAX_TEXT_CHARACTERS:,}; split the text into items of at most that length")
    return None


def parse_line(text: str, source_key: str) -> tuple[dict[str, Any] | None, str | None]:
    """A non-blank line's record, or None and what is wrong with it (its source-ref's object aside)."""
    try:
        record = jsonl.loads(text)
    except json.JSONDecodeError as error:
        return None, (f"is not valid JSON ({error.msg.removesuffix(' at')} at column {error.colno}); "
                      "write one JSON object per line")
    except RecursionError:  # json.loads recurses once per level of nesting
        return None, "nests JSON too deeply to be read; write one flat JSON object per line"
    problem = _record_problem(record, source_key)
    if problem is None and _has_lone_surrogate(text, record):
        problem = ("holds a lone surrogate (bytes that are not UTF-8, or a \\ud800-\\udfff escape without "
                   "its pair), which is not a character; save the file as UTF-8 text")
    return (record if problem is None else None), problem


@dataclass
class ManifestCheck:
    items: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)

    def add_invalid(self, line: InvalidLine) -> None:
        self.invalid += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(f"line {line.number}: {line.reason}")

    def _listed(self) -> str:
        more = self.invalid - len(self.errors)
        return "\n".join(self.errors) + (f"\n... and {more} more" if more else "")

    def raise_if_unusable(self, manifest_name: str, max_invalid_percentage: float) -> None:
        """Refuse a manifest with no good line, or with more bad lines than the job allows."""
        lines = self.items + self.invalid
        if lines == 0:
            raise ManifestError(f"{manifest_name} has no items; add one JSON object per line")
        if self.items == 0:
            raise ManifestError(
                f"{manifest_name} has no line that can be labeled ({self.invalid} invalid); fix them and upload "
                f"the manifest again (nothing was sent to workers):\n{self._listed()}"
            )
        if self.invalid * 100 > max_invalid_percentage * lines:
            raise ManifestError(
                f"{manifest_name} has {self.invalid} invalid line(s) of {lines} ({100 * self.invalid / lines:.1f}%, "
                f"over the job's MaxInvalidLinePercentage of {max_invalid_percentage:g}%); fix them and upload "
                f"the manifest again, or raise MaxInvalidLinePercentage in job.json to label the rest "
                f"(nothing was sent to workers):\n{self._listed()}"
            )


# Checks a group of source-refs (as written in the manifest); one problem or None each, in order.
ObjectCheck = Callable[[list[str]], list[str | None]]


def check_manifest(
    lines: Iterable[str], source_key: str, *, on_invalid: Callable[[InvalidLine], None] = lambda line: None,
    object_check: ObjectCheck | None = None,
) -> ManifestCheck:
    """Stream-check every line; each bad one goes to `on_invalid`, in line order.

    `object_check` checks the objects that source-refs name (ValidateJob: they exist and
    are images); it is given groups of refs so that it can read them concurrently.
    """
    check = ManifestCheck()
    # Lines wait here in order, each with its problem so far and the source-ref still to check.
    pending: list[tuple[ManifestLine, str | None, str | None]] = []

    def settle() -> None:
        refs = [ref for _, _, ref in pending if ref is not None]
        object_problems = iter(object_check(refs) if object_check and refs else [])
        for line, problem, ref in pending:
            problem = next(object_problems) if ref is not None else problem
            if problem:
                invalid = InvalidLine(line.item_id, line.number, problem)
                check.add_invalid(invalid)
                on_invalid(invalid)
            else:
                check.items += 1
        pending.clear()

    for line in manifest_lines(lines):
        record, problem = parse_line(line.text, source_key)
        pending.append((line, problem, record[source_key] if record is not None and object_check else None))
        if len(pending) == _OBJECT_CHECK_GROUP:
            settle()
    settle()
    return check


def _skipping(lines: Iterable[ManifestLine], invalid_ids: Iterable[int]) -> Iterator[ManifestLine]:
    """`lines` without the id-ordered `invalid_ids`."""
    invalid = iter(invalid_ids)
    skip = next(invalid, None)
    for line in lines:
        while skip is not None and skip < line.item_id:
            skip = next(invalid, None)
        if skip == line.item_id:
            continue
        yield line


def work_items(lines: Iterable[str], source_key: str, invalid_ids: Iterable[int] = ()) -> Iterator[dict[str, Any]]:
    """What the workflow passes around for each good item: its id and its data."""
    for line in _skipping(manifest_lines(lines), invalid_ids):
        yield {"id": line.item_id, source_key: jsonl.loads(line.text)[source_key]}
