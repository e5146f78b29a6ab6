"""The job's items as the loop numbers them: the input manifest's lines, the invalid ones skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from labeling.dal import s3
from labeling.layout import JobLayout
from labeling.logic.manifest import work_items


def job_items(bucket: str, layout: JobLayout, source_key: str) -> Iterator[dict[str, Any]]:
    """A fresh stream of {"id", source_key, ...} per call (SelectSample reads it twice, SelectAudit once)."""
    invalid_ids = (line["id"] for line in s3.read_jsonl_if_present(bucket, layout.invalid_lines))
    return work_items(s3.read_lines(bucket, layout.input_manifest), source_key, invalid_ids)
