"""A batch-transform request's records: JSON Lines (or a JSON document), one item per line.

Batch transform joins the response back to its input line by line, so every record
keeps `where` it came from ("line 3"), and any problem names it.

Lines are split on "\n" only: `str.splitlines()` also splits at U+0085, U+2028, U+2029,
U+000B/C and U+001C-1E, which are ordinary characters inside a JSON string and common in
real text (U+0085 is cp1252's "..." decoded as latin-1). The pipeline's functions split the
same way (functions/labeling/logic/jsonl.py; this image does not ship that code).
"""
import json
from dataclasses import dataclass

JSONLINES = "application/jsonlines"
JSONLINES_TYPES = {"", JSONLINES, "application/jsonl", "application/x-jsonlines"}


class BadRequest(Exception):
    """The request cannot be answered as sent; the message goes back with a 400."""


class ItemError(Exception):
    """One item of an otherwise valid request cannot be processed (an unreadable image).
    `value` is the item's record value, so that the server can name the line it came from."""

    def __init__(self, message: str, value: str):
        super().__init__(message)
        self.value = value


@dataclass(frozen=True)
class Record:
    where: str  # "line 3" (JSON Lines) or "item 3" (a JSON array)
    value: str  # the record's `key` field: the text, or the image's source-ref


def _record(document, key: str, where: str) -> Record:
    if not isinstance(document, dict) or not isinstance(document.get(key), str):
        raise BadRequest(f"{where}: expected a JSON object with a string '{key}'")
    return Record(where, document[key])


def parse_records(body: bytes, content_type: str, key: str) -> list[Record]:
    """One Record per non-blank line (or array element), in order; other fields are ignored."""
    media_type = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body is not UTF-8") from None
    if media_type == "application/json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"invalid JSON ({exc})") from None
        documents = document if isinstance(document, list) else [document]
        return [_record(d, key, f"item {i}") for i, d in enumerate(documents, start=1)]
    if media_type not in JSONLINES_TYPES:
        raise BadRequest(f"unsupported content type {content_type!r}; send {JSONLINES}")
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"line {number}: invalid JSON ({exc})") from None
        records.append(_record(document, key, f"line {number}"))
    return records
