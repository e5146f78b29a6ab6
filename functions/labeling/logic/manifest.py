"""Reading and checking input manifests (JSON Lines, Ground Truth's format)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# How many bad lines a validation error lists; the count covers all of them.
MAX_REPORTED_ERRORS = 10


class ManifestError(ValueError):
    """The input manifest cannot be labeled as it is; the message names the lines and the fix."""


@dataclass
class ManifestCheck:
    items: int = 0
    error_count: int = 0
    errors: list[str] = field(default_factory=list)

    def add_error(self, line_number: int, problem: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(f"line {line_number}: {problem}")

    def raise_if_invalid(self, manifest_name: str) -> None:
        if self.error_count:
            more = self.error_count - len(self.errors)
            listed = "\n".join(self.errors) + (f"\n... and {more} more" if more else "")
            raise ManifestError(
                f"{manifest_name} has {self.error_count} invalid line(s); fix them and upload "
                f"the manifest again (nothing was sent to workers):\n{listed}"
            )
        if self.items == 0:
            raise ManifestError(f"{manifest_name} has no items; add one JSON object per line")


def _problem(record: Any, source_key: str) -> str | None:
    if not isinstance(record, dict):
        return f"is not a JSON object; write one object per line, e.g. {{\"{source_key}\": ...}}"
    other = "source-ref" if source_key == "source" else "source"
    value = record.get(source_key)
    if value is None:
        hint = f" (it has {other!r}, which this task type does not read)" if other in record else ""
        return f"has no {source_key!r} key{hint}; add the item under {source_key!r}"
    if not isinstance(value, str) or not value.strip():
        return f"{source_key!r} must be a non-empty string"
    return None


def check_manifest(lines: Iterable[str], source_key: str) -> ManifestCheck:
    """Stream-check every line: JSON object, with the item under `source_key`."""
    check = ManifestCheck()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            check.add_error(number, f"is not valid JSON ({error.msg}); write one JSON object per line")
            continue
        problem = _problem(record, source_key)
        if problem:
            check.add_error(number, problem)
        else:
            check.items += 1
    return check


def manifest_records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The manifest's items in order; blank lines are skipped."""
    for line in lines:
        if line.strip():
            yield json.loads(line)


def work_items(lines: Iterable[str], source_key: str) -> Iterator[dict[str, Any]]:
    """What the workflow passes around for each item: its id (position) and its data."""
    for item_id, record in enumerate(manifest_records(lines)):
        yield {"id": item_id, source_key: record[source_key]}
