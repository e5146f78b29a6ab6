"""JSON Lines as the format defines them: records separated by "\n" and nothing else.

`str.splitlines()` (and so `io` in text mode, for "\r") also breaks at U+0085, U+2028,
U+2029, U+000B/C and U+001C-1E, which are ordinary characters inside a JSON string and
common in real text (U+0085 is cp1252's "..." read as latin-1). Every place that reads
JSON Lines splits with `split_lines` instead; a trailing "\r" (a CRLF file) is dropped.

Bytes that are not UTF-8 are decoded with `surrogateescape`, so they reach the manifest
check as lone surrogates (reported as a bad line there) and can be written back unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

# How the decoded lines keep bytes that are not UTF-8 (see the module's docstring).
DECODE_ERRORS = "surrogateescape"
# How a record is encoded: a lone surrogate, which only a JSON string can hold, becomes
# its JSON escape ("\udc80"), so every record can be written.
ENCODE_ERRORS = "backslashreplace"


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a byte stream given in chunks, each without its "\n" (or "\r\n")."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line
    if pending:
        yield pending[:-1] if pending.endswith(b"\r") else pending


def decoded(lines: Iterable[bytes]) -> Iterator[str]:
    for line in lines:
        yield line.decode("utf-8", DECODE_ERRORS)


def file_lines(path: Path, chunk_size: int = 1 << 20) -> Iterator[str]:
    """A local file's lines, decoded, split on "\n" only."""
    with path.open("rb") as file:
        yield from decoded(split_lines(iter(lambda: file.read(chunk_size), b"")))


def dumps(record: Any) -> str:
    """One record as a line's text (no "\n"); characters are written as they are, not escaped."""
    return json.dumps(record, ensure_ascii=False)


def encode_line(record: Any) -> bytes:
    return (dumps(record) + "\n").encode("utf-8", ENCODE_ERRORS)


def write_lines(path: Path, records: Iterable[Any]) -> int:
    """Write records as JSON Lines to a local file; returns how many."""
    count = 0
    with path.open("wb") as out:
        for record in records:
            out.write(encode_line(record))
            count += 1
    return count
