"""JSON Lines as the format defines them: records separated by "\n" and nothing else.

`str.splitlines()` (and so `io` in text mode, for "\r") also breaks at U+0085, U+2028,
U+2029, U+000B/C and U+001C-1E, which are ordinary characters inside a JSON string and
common in real text (U+0085 is cp1252's "..." read as latin-1). Every place that reads
JSON Lines splits with `split_lines` instead; a trailing "\r" (a CRLF file) is dropped.

Bytes that are not UTF-8 are decoded with `surrogateescape`, so they reach the manifest
check as lone surrogates (reported as a bad line there) and can be written back unchanged.

Records are parsed and written with orjson where it gives exactly what the standard library
would, and with `json` for the rest (`loads`, `encode_line`): orjson refuses lone surrogates,
NaN and Infinity, and reads integers of 19 digits or more as floats, so such lines go to `json`.
Lines are written compactly ({"a":1}), as Ground Truth writes its manifests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

try:  # the functions' layer and pyproject.toml ship it (infra/layers/json); json alone also works
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]  # the checker sees the installed module; this is the fallback

# How the decoded lines keep bytes that are not UTF-8 (see the module's docstring).
DECODE_ERRORS = "surrogateescape"
# How a record is encoded: a lone surrogate, which only a JSON string can hold, becomes
# its JSON escape ("\udc80"), so every record can be written.
ENCODE_ERRORS = "backslashreplace"
# An integer orjson would read as a float (it keeps 64 bits) has 19 digits or more: a line with such a
# run of digits goes to json. Found by mapping digits to "0" and the rest to " " (4x faster than a regex).
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGITS = b"0" * 19
# orjson writes NaN and Infinity as null; json writes them as NaN and Infinity (and None as null).
_NULL = b"null"
# Values orjson writes itself where json would refuse them, or write them otherwise (str subclasses).
_ORJSON_OPTIONS = (orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_SUBCLASS) if orjson else 0
_COMPACT = (",", ":")


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


def loads(text: str) -> Any:
    """A line's value, as `json.loads` gives it (and its errors, for a line that is not JSON)."""
    if orjson is not None and _LONG_DIGITS not in text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZEROS):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # not JSON for orjson: json decides, and names the error
    return json.loads(text)


def dumps(record: Any) -> str:
    """One record as a line's text (no "\n"); characters are written as they are, not escaped."""
    return json.dumps(record, ensure_ascii=False, separators=_COMPACT)


def encode_line(record: Any) -> bytes:
    """One record as a line, UTF-8 with its "\n": the bytes `dumps` gives, encoded with ENCODE_ERRORS."""
    if orjson is not None:
        try:
            line = orjson.dumps(record, option=_ORJSON_OPTIONS | orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # a lone surrogate, an integer over 64 bits, a key that is not a string...
            pass
        else:
            if _NULL not in line:
                return line
    return (dumps(record) + "\n").encode("utf-8", ENCODE_ERRORS)


def write_lines(path: Path, records: Iterable[Any]) -> int:
    """Write records as JSON Lines to a local file; returns how many."""
    count = 0
    with path.open("wb") as out:
        for record in records:
            out.write(encode_line(record))
            count += 1
    return count
