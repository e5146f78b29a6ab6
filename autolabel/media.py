"""Local files that a manifest's `source-ref` names, put where the pipeline reads them.

In AWS, `source-ref` is an S3 URI in the stack's bucket. For `autolabel run`, a
manifest may name local files instead (relative to the manifest's folder, or
absolute). Before the run, the manifest and the answers file are copied with
every reference to an existing local file made absolute (so both name an image
the same way, wherever each file lies); in the local cloud each such file is then
uploaded once under the job's prefix and the reference becomes that object's URI.
A reference to a file that does not exist is kept as written: that line is a bad
line, which the pipeline reports (quoting the reference) and skips. The output
manifest gets the original references back, so it reads like the input.

Every copy keeps the file's lines 1:1 (blank and unparsable lines too), so that a
message about line N of a copy is about line N of the user's file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from labeling.logic import jsonl
from labeling.logic.image_files import HEAD_BYTES, image_format

SOURCE_REF = "source-ref"


def _rewritten_line(text: str, rewrite: Callable[[str], str]) -> bytes:
    """One line, its `source-ref` passed through `rewrite`; a line not rewritten is copied as it was."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):  # not JSON: the pipeline names the line
        record = None
    if isinstance(record, dict) and isinstance(record.get(SOURCE_REF), str):
        ref = rewrite(record[SOURCE_REF])
        if ref != record[SOURCE_REF]:
            return jsonl.encode_line({**record, SOURCE_REF: ref})
    return text.encode("utf-8", jsonl.DECODE_ERRORS) + b"\n"


def _rewritten(source: Path, target: Path, rewrite: Callable[[str], str]) -> Path:
    """Copy a JSON Lines file line for line, passing each `source-ref` through `rewrite`."""
    with target.open("wb") as out:
        for number, text in enumerate(jsonl.file_lines(source), start=1):
            # A byte order mark (Windows tools write one) is not part of the first line's JSON.
            out.write(_rewritten_line(text.removeprefix("\ufeff") if number == 1 else text, rewrite))
    return target


def _local_file(ref: str, folder: Path) -> Path | None:
    """The existing local file that `ref` names (relative to `folder`), or None."""
    path = Path(ref.removeprefix("file://"))
    try:
        path = (path if path.is_absolute() else folder / path).resolve()
        return path if path.is_file() else None
    except (OSError, ValueError):  # a name the system cannot hold (too long, a NUL): no such file
        return None


class MediaStager:
    def __init__(self) -> None:
        self.original: dict[str, str] = {}  # absolute path, later S3 URI -> the reference as written
        self.uri_of: dict[str, str] = {}  # absolute path -> the S3 URI it was uploaded to
        self.files: set[str] = set()  # the existing local files that the copies name, by absolute path

    def absolute_copy(self, source: Path, target: Path) -> Path:
        """`source` with each reference to an existing local file made absolute; others as written."""
        def rewrite(ref: str) -> str:
            if ref.startswith("s3://"):
                return ref
            path = _local_file(ref, source.parent)
            if path is None:
                return ref  # kept as written, so that the pipeline's message quotes it
            self.files.add(str(path))
            self.original.setdefault(str(path), ref)
            return str(path)

        return _rewritten(source, target, rewrite)

    def is_bad(self, ref: str) -> bool:
        """Whether a reference in an absolute copy names a local file that the pipeline will skip:
        one that is not there, or is not an image (the same test of its first bytes as ValidateJob's)."""
        if ref.startswith("s3://"):
            return False
        if ref not in self.files:
            return True
        with open(ref, "rb") as file:
            return image_format(file.read(HEAD_BYTES)) is None

    def uploaded_copy(self, source: Path, target: Path, *, bucket: str, prefix: str,
                      upload: Callable[[str, str, str], None]) -> Path:
        """`source` (an absolute copy) with local files uploaded once under `prefix` and named by S3 URI."""
        def rewrite(ref: str) -> str:
            if ref not in self.files:
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
        return _rewritten(source, target, lambda ref: self.uri_of.get(ref, ref))

    def restore(self, manifest: Path) -> None:
        """Put the original references back into a downloaded output manifest."""
        if manifest.exists() and any(key.startswith("s3://") for key in self.original):
            restored = manifest.with_suffix(".restoring")
            _rewritten(manifest, restored, lambda ref: self.original.get(ref, ref))
            restored.replace(manifest)
