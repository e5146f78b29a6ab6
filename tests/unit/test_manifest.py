"""Checking and reading input manifests (logic/manifest.py).

A user uploads JSON Lines in Ground Truth's format: text tasks put the item
under "source", image tasks put an S3 URI under "source-ref".
"""

import json

import pytest

from labeling.logic.manifest import (
    MAX_REPORTED_ERRORS,
    ManifestError,
    check_manifest,
    manifest_records,
    work_items,
)

TEXT_MANIFEST = [
    '{"source": "The match ended in a draw."}',
    '{"source": "Shares fell sharply on Monday.", "origin": "bbc"}',
    "",
    '{"source": "A new phone was launched."}',
    "   ",
]


def test_valid_manifest_counts_its_items_and_ignores_blank_lines():
    check = check_manifest(TEXT_MANIFEST, "source")
    assert check.items == 3
    assert check.error_count == 0 and check.errors == []
    check.raise_if_invalid("input.manifest")  # does not raise


def test_image_manifest_reads_source_ref():
    lines = [json.dumps({"source-ref": f"s3://bucket/images/{i}.jpg"}) for i in range(4)]
    assert check_manifest(lines, "source-ref").items == 4


def test_each_bad_line_is_reported_with_its_line_number_and_the_fix():
    lines = [
        '{"source": "fine"}',                         # 1
        "",                                          # 2 (blank lines still count as lines)
        "{not json",                                 # 3
        "[1, 2]",                                    # 4
        '{"text": "wrong key"}',                     # 5
        '{"source-ref": "s3://bucket/a.jpg"}',       # 6
        '{"source": ""}',                            # 7
        '{"source": 42}',                            # 8
        '"just a string"',                           # 9
    ]
    check = check_manifest(lines, "source")
    assert check.items == 1
    assert check.error_count == 7
    assert check.errors[0].startswith("line 3: is not valid JSON (")
    assert check.errors[0].endswith("); write one JSON object per line")
    assert check.errors[1:] == [
        'line 4: is not a JSON object; write one object per line, e.g. {"source": ...}',
        "line 5: has no 'source' key; add the item under 'source'",
        "line 6: has no 'source' key (it has 'source-ref', which this task type does not read); "
        "add the item under 'source'",
        "line 7: 'source' must be a non-empty string",
        "line 8: 'source' must be a non-empty string",
        'line 9: is not a JSON object; write one object per line, e.g. {"source": ...}',
    ]


def test_text_given_to_an_image_task_names_the_key_it_has():
    check = check_manifest(['{"source": "some text"}'], "source-ref")
    assert check.errors == [
        "line 1: has no 'source-ref' key (it has 'source', which this task type does not read); "
        "add the item under 'source-ref'"
    ]


def test_whitespace_only_source_is_rejected():
    assert check_manifest(['{"source": "   "}'], "source").errors == ["line 1: 'source' must be a non-empty string"]


def test_listed_errors_are_capped_but_all_are_counted():
    lines = ['{"source": "ok"}'] + ["oops"] * 25
    check = check_manifest(lines, "source")
    assert check.items == 1
    assert check.error_count == 25
    assert len(check.errors) == MAX_REPORTED_ERRORS == 10
    assert check.errors[0].startswith("line 2: ") and check.errors[-1].startswith("line 11: ")


def test_invalid_manifest_message_names_the_file_the_count_and_the_lines():
    check = check_manifest(['{"source": "ok"}'] + ["oops"] * 25, "source")
    with pytest.raises(ManifestError) as raised:
        check.raise_if_invalid("jobs/news/input.manifest")
    message = str(raised.value)
    assert message.startswith(
        "jobs/news/input.manifest has 25 invalid line(s); fix them and upload the manifest again "
        "(nothing was sent to workers):\nline 2: is not valid JSON ("
    )
    assert message.count("\nline ") == 10
    assert message.endswith("\n... and 15 more")


def test_message_lists_all_errors_when_few():
    check = check_manifest(['{"text": "a"}'], "source")
    with pytest.raises(ManifestError) as raised:
        check.raise_if_invalid("input.manifest")
    assert str(raised.value) == (
        "input.manifest has 1 invalid line(s); fix them and upload the manifest again "
        "(nothing was sent to workers):\nline 1: has no 'source' key; add the item under 'source'"
    )


def test_manifest_without_items_is_rejected():
    check = check_manifest(["", "  "], "source")
    with pytest.raises(ManifestError, match=r"^input.manifest has no items; add one JSON object per line$"):
        check.raise_if_invalid("input.manifest")


def test_manifest_error_is_a_value_error():
    assert issubclass(ManifestError, ValueError)


def test_records_are_the_lines_in_order_without_blank_ones():
    assert list(manifest_records(TEXT_MANIFEST)) == [
        {"source": "The match ended in a draw."},
        {"source": "Shares fell sharply on Monday.", "origin": "bbc"},
        {"source": "A new phone was launched."},
    ]


def test_work_item_ids_are_positions_that_skip_blank_lines():
    assert list(work_items(TEXT_MANIFEST, "source")) == [
        {"id": 0, "source": "The match ended in a draw."},
        {"id": 1, "source": "Shares fell sharply on Monday."},
        {"id": 2, "source": "A new phone was launched."},
    ]


def test_work_items_of_an_image_manifest_carry_the_s3_uri():
    lines = ['{"source-ref": "s3://b/0.jpg", "x": 1}', '{"source-ref": "s3://b/1.jpg"}']
    assert list(work_items(lines, "source-ref")) == [
        {"id": 0, "source-ref": "s3://b/0.jpg"},
        {"id": 1, "source-ref": "s3://b/1.jpg"},
    ]


def test_manifest_is_read_as_a_stream():
    def lines():
        for i in range(100_000):
            yield json.dumps({"source": f"item {i}"})

    assert check_manifest(lines(), "source").items == 100_000
    items = work_items(lines(), "source")
    assert next(items) == {"id": 0, "source": "item 0"}
