"""Any text survives the pipeline's JSON Lines unchanged: manifest -> work items -> pool file ->
the batch-transform request the model container parses -> output manifest.

Real text holds characters that `str.splitlines()` takes for line breaks (U+0085 is cp1252's
"..." decoded as latin-1; U+2028/9 come from web pages and JavaScript). A split inside a JSON
string breaks the line, and used to crash every automated job after the first human batch.
The S3 steps run on moto's S3 (the functions' own dal), the container's parser is its own code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from labeling.dal import s3
from labeling.logic import jsonl
from labeling.logic.manifest import MAX_TEXT_CHARACTERS, check_manifest, work_items
from labeling.logic.output import Counters, output_lines
from labeling.task_types import task_type

CONTAINERS = Path(__file__).resolve().parents[2] / "containers"
sys.path[:0] = [str(CONTAINERS / "common")]

from ml_container.records import JSONLINES, parse_records  # noqa: E402

BUCKET = "any-text"
# Characters that some line splitter takes for a line break, and other hard cases.
HARD = ["\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x00", "\r", "\n", "\r\n",
        "\t", "😀", "👩‍👩‍👧", "مرحبا بالعالم", "\u202eRTL override", "e\u0301", "Z\u0335\u0321\u0300",
        "\ufeff", "\ufffd", '"', "\\", "\\n", "\U0010fffd", "…"]
# Any character that can be written as UTF-8 (a lone surrogate cannot: it is a bad line, tested in
# test_manifest.py), as hard pieces and as arbitrary code points.
pieces = st.one_of(st.sampled_from(HARD), st.text(st.characters(exclude_categories=("Cs",)), max_size=20))
texts = st.lists(pieces, min_size=1, max_size=30).map("".join).filter(lambda text: bool(text.strip()))
TASK = task_type("text-classification")
FMT = dict(attribute="label", label_names=["a", "b"], task=TASK, job_name="any-text")


@pytest.fixture(scope="module")
def bucket():
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        s3._client.cache_clear()
        yield BUCKET
    s3._client.cache_clear()


def _manifest(texts: list[str], escaped: bool) -> bytes:
    """A user's manifest: characters written raw (as most tools do) or as \\u escapes."""
    return b"".join((json.dumps({"source": text, "n": n}, ensure_ascii=escaped) + "\n").encode()
                    for n, text in enumerate(texts))


def _through_the_pipeline(bucket: str, texts: list[str], escaped: bool) -> tuple[list[str], list[str]]:
    """What the container reads, and the sources of the output manifest."""
    client = boto3.client("s3", region_name="us-east-1")
    client.put_object(Bucket=bucket, Key="input.manifest", Body=_manifest(texts, escaped))
    check = check_manifest(s3.read_lines(bucket, "input.manifest"), "source")
    assert (check.items, check.errors) == (len(texts), [])
    with s3.JsonlWriter(bucket, "pool.jsonl") as pool:
        for item in work_items(s3.read_lines(bucket, "input.manifest"), "source"):
            pool.write(item)
    request = client.get_object(Bucket=bucket, Key="pool.jsonl")["Body"].read()
    read_by_the_model = [record.value for record in parse_records(request, JSONLINES, "source")]
    labels = iter([{"id": n, "label": n % 2, "confidence": 0.9, "human": False, "createdAt": "2026-12-01T00:00:00"}
                   for n in range(len(texts))])
    with s3.JsonlWriter(bucket, "output.manifest") as output:
        for line in output_lines(s3.read_lines(bucket, "input.manifest"), labels, Counters(), **FMT):
            output.write(line)
    out = [json.loads(line) for line in s3.read_lines(bucket, "output.manifest")]
    assert [line["n"] for line in out] == list(range(len(texts)))
    return read_by_the_model, [line["source"] for line in out]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(texts, min_size=1, max_size=8), escaped=st.booleans())
def test_any_text_reaches_the_model_and_the_output_manifest_unchanged(bucket, texts, escaped):
    read_by_the_model, in_the_output = _through_the_pipeline(bucket, texts, escaped)
    assert read_by_the_model == texts
    assert in_the_output == texts


def test_a_text_at_ground_truths_limit_and_every_hard_character_survive(bucket):
    texts = ["…".join(HARD) * 3, ("\u2028\x85😀" * MAX_TEXT_CHARACTERS)[:MAX_TEXT_CHARACTERS]]
    read_by_the_model, in_the_output = _through_the_pipeline(bucket, texts, escaped=False)
    assert read_by_the_model == texts and in_the_output == texts


def test_json_lines_split_on_newline_only_whatever_the_chunks():
    data = "a\x85b\u2028c\r\nd\re\n\nf".encode()
    for size in (1, 2, 3, 7, len(data)):
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        assert list(jsonl.decoded(jsonl.split_lines(chunks))) == ["a\x85b\u2028c", "d\re", "", "f"]
