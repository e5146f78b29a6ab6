"""The report's files for people: report.md and its PNG plot (report.json goes through s3.write_json)."""

from __future__ import annotations

from labeling.dal import s3


def write_markdown(bucket: str, key: str, text: str) -> None:
    s3.write_bytes(bucket, key, text.encode("utf-8"), "text/markdown; charset=utf-8")


def write_png(bucket: str, key: str, image: bytes) -> None:
    s3.write_bytes(bucket, key, image, "image/png")
