"""Is the object a manifest line's `source-ref` names an image? Decided from its first bytes.

ValidateJob reads a few bytes of each object (not the whole image), so a missing file or
a file that is no image is one reported bad line, instead of a model container failing
a whole transform on it later, after humans were paid for the first batch.

Nor may a source-ref name an object the deployment cannot read: the functions and the SageMaker
role read the job bucket's objects under jobs/ (SOURCE_PREFIX) and the buckets of the stack's
dataBuckets setting (infra/config.py), nothing else, so any other reference is refused up front
instead of failing as AccessDenied in a worker's browser or in a transform.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labeling.layout import split_s3_uri

# The formats the model containers' image reader (Pillow) opens, by their file signatures.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
HEAD_BYTES = 12
FORMATS = "PNG, JPEG, GIF, BMP, TIFF or WebP"
# Where in the job bucket a source-ref may point: under any job's folder (autolabel run uploads
# local images to jobs/<job>/data/). infra/constructs/job_access.py grants the same keys.
SOURCE_PREFIX = "jobs/"


@dataclass(frozen=True)
class ReadableBuckets:
    """The objects this deployment may read: the job bucket's under SOURCE_PREFIX, any of a data bucket's."""

    job_bucket: str
    data_buckets: tuple[str, ...] = ()

    def problem(self, bucket: str, key: str) -> str | None:
        if bucket in self.data_buckets or (bucket == self.job_bucket and key.startswith(SOURCE_PREFIX)):
            return None
        if bucket == self.job_bucket:
            return (f"source-ref names s3://{bucket}/{key}, outside the job bucket's {SOURCE_PREFIX} folder, "
                    f"which this deployment may not read; move the object under {SOURCE_PREFIX} (e.g. "
                    f"{SOURCE_PREFIX}<job>/data/) and fix the reference")
        return (f"source-ref names bucket {bucket!r}, which this deployment may not read; add {bucket!r} "
                "to the stack setting dataBuckets (cdk.json) and deploy again, or copy the objects into "
                f"the job bucket {self.job_bucket!r} under {SOURCE_PREFIX}")

# Reads the first bytes of (bucket, key) objects; None where there is no object.
HeadReader = Callable[[list[tuple[str, str]], int], list[bytes | None]]


def image_format(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for signature, name in _SIGNATURES if head.startswith(signature)), None)


def _head_problem(head: bytes | None) -> str | None:
    # The line number names the item, and the output line holds its source-ref as the user wrote
    # it (autolabel run uploads local files, so the URI read here may not be theirs).
    if head is None:
        return "source-ref names no object; upload the image or fix the reference"
    if not head:
        return "source-ref is an empty file, not an image"
    if image_format(head) is None:
        return f"source-ref is not an image ({FORMATS} expected)"
    return None


def source_ref_problems(refs: list[str], read_heads: HeadReader, readable: ReadableBuckets) -> list[str | None]:
    """One problem (or None) per source-ref: not an S3 URI, in a bucket it may not read, no such
    object, not an image. Objects it may not read are not read at all."""
    problems: list[str | None] = [None] * len(refs)
    locations: list[tuple[int, tuple[str, str]]] = []
    for index, ref in enumerate(refs):
        try:
            bucket, key = split_s3_uri(ref)
        except ValueError:
            bucket = key = ""
        if not bucket or not key:
            problems[index] = (f"source-ref {ref!r} is not an s3://bucket/key URI (run locally, "
                               "a file that does not exist; local paths are read from the manifest's folder)")
        elif (problem := readable.problem(bucket, key)) is not None:
            problems[index] = problem
        else:
            locations.append((index, (bucket, key)))
    heads = read_heads([location for _, location in locations], HEAD_BYTES)
    for (index, _), head in zip(locations, heads, strict=True):
        problems[index] = _head_problem(head)
    return problems
