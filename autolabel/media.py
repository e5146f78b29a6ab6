"""Local files that a manifest's `source-ref` names, put where the pipeline reads them.

In AWS, `source-ref` is an S3 URI in the stack's bucket. For `autolabel run`, a
manifest may name local files instead (relative to the manifest's folder, or
absolute). Before the run, the manifest and the answers file are copied with
every local reference made absolute (so both name an image the same way,
wherever each file lies); in the local cloud each file is then uploaded once
under the job's prefix and the reference becomes that object's URI. The output
manifest gets the original references back, so it reads like the input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

SOURCE_REF = "source-ref"


class MediaError(ValueError):
    pass


def _rewritten(source: Path, target: Path, rewrite: Callable[[int, str], str]) -> Path:
    """Copy a JSON Lines file, passing each `source-ref` through `rewrite`; other lines pass unchanged."""
    with source.open(encoding="utf-8") as lines, target.open("w", encoding="utf-8") as out:
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                out.write(line)  # ValidateJob names the bad line
                continue
            if isinstance(record, dict) and isinstance(record.get(SOURCE_REF), str):
                record[SOURCE_REF] = rewrite(number, record[SOURCE_REF])
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return target


class MediaStager:
    def __init__(self) -> None:
        self.original: dict[str, str] = {}  # absolute path, later S3 URI -> the reference as written
        self.uri_of: dict[str, str] = {}  # absolute path -> the S3 URI it was uploaded to

    def absolute_copy(self, source: Path, target: Path, *, what: str, must_exist: bool) -> Path:
        def rewrite(number: int, ref: str) -> str:
            if ref.startswith("s3://"):
                return ref
            path = Path(ref.removeprefix("file://"))
            path = path if path.is_absolute() else (source.parent / path).resolve()
            if must_exist and not path.is_file():
                raise MediaError(f"{what} line {number}: {SOURCE_REF} {ref!r} is not a file ({path}); "
                                 "relative references are read from the manifest's folder")
            self.original.setdefault(str(path), ref)
            return str(path)

        return _rewritten(source, target, rewrite)

    def uploaded_copy(self, source: Path, target: Path, *, bucket: str, prefix: str,
                      upload: Callable[[str, str, str], None]) -> Path:
        """`source` (an absolute copy) with local files uploaded once under `prefix` and named by S3 URI."""
        def rewrite(number: int, ref: str) -> str:
            if ref.startswith("s3://") or not os.path.isabs(ref):
                return ref
            if ref not in self.uri_of:
                key = f"{prefix.rstrip('/')}/{len(self.uri_of):07d}-{Path(ref).name}"
                upload(ref, bucket, key)
                self.uri_of[ref] = f"s3://{bucket}/{key}"
                self.original[self.uri_of[ref]] = self.original.get(ref, ref)
            return self.uri_of[ref]

        return _rewritten(source, target, rewrite)

    def named_like_uploads(self, source: Path, target: Path) -> Path:
        """`source` (an absolute copy of the answers) naming items by the URIs their files got."""
        return _rewritten(source, target, lambda number, ref: self.uri_of.get(ref, ref))

    def restore(self, manifest: Path) -> None:
        """Put the original references back into a downloaded output manifest."""
        if manifest.exists() and any(key.startswith("s3://") for key in self.original):
            restored = manifest.with_suffix(".restoring")
            _rewritten(manifest, restored, lambda number, ref: self.original.get(ref, ref))
            restored.replace(manifest)
