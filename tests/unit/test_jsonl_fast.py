"""jsonl's orjson fast path gives exactly what the standard library gives (logic/jsonl.py).

Every value a line can hold is read as `json.loads` reads it (same types: a 20-digit integer stays
an int; NaN, Infinity and lone surrogates still read), text that is not JSON fails as it does with
`json`, and every record is written as a line that `json` reads back as the stdlib encoding's value.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling.logic import jsonl

orjson = pytest.importorskip("orjson")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=-1e-300, max_value=1e-300),
    st.text(), st.text(st.characters(codec="utf-8")), st.sampled_from(["\ud800", "\udcff", "\x85\u2028", "😀"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                           max_size=4), max_leaves=12)


def same(a, b) -> bool:
    """Equal values of the same types (NaN equal to NaN, -0.0 unlike 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def outcome(load, text):
    try:
        return "ok", load(text)
    except (ValueError, RecursionError) as error:
        return "error", str(error)


@settings(max_examples=400, deadline=None)
@given(value=values, escaped=st.booleans())
def test_any_json_text_reads_as_json_reads_it(value, escaped):
    text = json.dumps(value, ensure_ascii=escaped)
    assert same(jsonl.loads(text), json.loads(text))


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(), st.text(alphabet='{}[]":,0123456789.eE+-tfnrul aN\\\ud800\ufeff\x00\t')))
def test_any_text_reads_or_fails_as_json_does(text):
    fast, slow = outcome(jsonl.loads, text), outcome(json.loads, text)
    assert fast[0] == slow[0]
    assert same(fast[1], slow[1]) if fast[0] == "ok" else fast[1] == slow[1]


@settings(max_examples=400, deadline=None)
@given(value=values.filter(lambda v: isinstance(v, dict)) | values)
def test_any_record_is_written_as_a_line_json_reads_back_as_the_stdlib_line(value):
    line = jsonl.encode_line(value)
    stdlib = (json.dumps(value, ensure_ascii=False) + "\n").encode("utf-8", jsonl.ENCODE_ERRORS)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    read = lambda data: json.loads(data.decode("utf-8", jsonl.DECODE_ERRORS))  # noqa: E731
    assert same(read(line), read(stdlib))
    assert same(jsonl.loads(line[:-1].decode("utf-8", jsonl.DECODE_ERRORS)), read(stdlib))


def test_what_orjson_would_change_goes_to_json():
    assert jsonl.encode_line({"a": float("nan"), "b": None}) == b'{"a":NaN,"b":null}\n'
    assert jsonl.encode_line({"a": "\udcff", 1: 2**70}) == b'{"a":"\\udcff","1":1180591620717411303424}\n'
    assert type(jsonl.loads('{"n": 18446744073709551616}')["n"]) is int
    assert jsonl.loads('"\\ud800"') == "\ud800"
    with pytest.raises(json.JSONDecodeError, match="Expecting ',' delimiter"):
        jsonl.loads('[1 2]')
