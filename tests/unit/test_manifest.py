"""Checking and reading input manifests (logic/manifest.py).

A user uploads JSON Lines in Ground Truth's format: text tasks put the item
under "source", image tasks put an S3 URI under "source-ref".
"""

import json

import pytest

from labeling.logic.manifest import (
    MAX_REPORTED_ERRORS,
    MAX_TEXT_CHARACTERS,
    InvalidLine,
    ManifestError,
    check_manifest,
    manifest_lines,
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
    assert check.invalid == 0 and check.errors == []
    check.raise_if_unusable("input.manifest", 10)  # does not raise


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
    reported = []
    check = check_manifest(lines, "source", on_invalid=reported.append)
    assert check.items == 1
    assert check.invalid == 7
    assert [(line.number, line.item_id) for line in reported] == [(3, 1), (4, 2), (5, 3), (6, 4), (7, 5), (8, 6),
                                                                  (9, 7)]
    assert check.errors == [f"line {line.number}: {line.reason}" for line in reported]
    assert check.errors[0].startswith("line 3: is not valid JSON (")
    assert check.errors[0].endswith("); write one JSON object per line")
    assert check.errors[1:] == [
        'line 4: is not a JSON object; write one object per line, e.g. {"source": ...}',
        "line 5: has no 'source' key; add the item under 'source'",
        "line 6: has no 'source' key (it has 'source-ref', which this task type does not read); "
        "add the item under 'source'",
        "line 7: 'source' must be a non-empty string",
        "line 8: 'source' must be a string, not a number",
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
    assert check.invalid == 25
    assert len(check.errors) == MAX_REPORTED_ERRORS == 10
    assert check.errors[0].startswith("line 2: ") and check.errors[-1].startswith("line 11: ")


def test_a_manifest_with_more_bad_lines_than_the_job_allows_is_refused_naming_the_file_and_lines():
    check = check_manifest(['{"source": "ok"}'] + ["oops"] * 25, "source")
    with pytest.raises(ManifestError) as raised:
        check.raise_if_unusable("jobs/news/input.manifest", 10)
    message = str(raised.value)
    assert message.startswith(
        "jobs/news/input.manifest has 25 invalid line(s) of 26 (96.2%, over the job's MaxInvalidLinePercentage "
        "of 10%); fix them and upload the manifest again, or raise MaxInvalidLinePercentage in job.json to label "
        "the rest (nothing was sent to workers):\nline 2: is not valid JSON ("
    )
    assert message.count("\nline ") == 10
    assert message.endswith("\n... and 15 more")


def test_bad_lines_up_to_the_allowed_share_are_skipped_not_refused():
    lines = [json.dumps({"source": f"item {i}"}) for i in range(90)] + ["oops"] * 10
    check = check_manifest(lines, "source")
    check.raise_if_unusable("input.manifest", 10)  # 10 of 100: allowed
    assert (check.items, check.invalid) == (90, 10)
    with pytest.raises(ManifestError, match=r"10 invalid line\(s\) of 100 \(10.0%, over the job's "
                                            r"MaxInvalidLinePercentage of 9.5%\)"):
        check.raise_if_unusable("input.manifest", 9.5)


def test_a_manifest_whose_every_line_is_bad_is_refused_whatever_the_share_allowed():
    check = check_manifest(['{"text": "a"}'], "source")
    with pytest.raises(ManifestError) as raised:
        check.raise_if_unusable("input.manifest", 100)
    assert str(raised.value) == (
        "input.manifest has no line that can be labeled (1 invalid); fix them and upload the manifest again "
        "(nothing was sent to workers):\nline 1: has no 'source' key; add the item under 'source'"
    )


def test_manifest_without_items_is_rejected():
    check = check_manifest(["", "  "], "source")
    with pytest.raises(ManifestError, match=r"^input.manifest has no items; add one JSON object per line$"):
        check.raise_if_unusable("input.manifest", 10)


def test_a_text_over_ground_truths_limit_is_a_bad_line_and_one_at_the_limit_is_not():
    lines = [json.dumps({"source": "a" * MAX_TEXT_CHARACTERS}), json.dumps({"source": "a" * (MAX_TEXT_CHARACTERS + 1)})]
    check = check_manifest(lines, "source")
    assert check.items == 1
    assert check.errors == ["line 2: 'source' has 100,001 characters, over Ground Truth's limit of 100,000; "
                            "split the text into items of at most that length"]


@pytest.mark.parametrize("line", [
    '{"source": "half an emoji \\ud83d here"}',  # an escape without its pair
    '{"source": "not UTF-8 \udc92 here"}',  # how logic/jsonl.py decodes a byte that is not UTF-8
])
def test_a_lone_surrogate_is_a_bad_line_with_the_fix(line):
    check = check_manifest([line, '{"source": "paired \\ud83d\\ude00 is an emoji"}'], "source")
    assert check.items == 1
    assert check.errors == ["line 1: holds a lone surrogate (bytes that are not UTF-8, or a \\ud800-\\udfff escape "
                            "without its pair), which is not a character; save the file as UTF-8 text"]


def test_object_problems_come_back_in_line_order_with_the_other_bad_lines():
    lines = ['{"source-ref": "s3://b/missing.png"}', "oops", '{"source-ref": "s3://b/ok.png"}',
             '{"source-ref": "s3://b/text.txt"}']
    problems = {"s3://b/missing.png": "no such object", "s3://b/text.txt": "not an image"}
    reported: list[InvalidLine] = []
    check = check_manifest(lines, "source-ref", on_invalid=reported.append,
                           object_check=lambda refs: [problems.get(ref) for ref in refs])
    assert check.items == 1
    assert [(line.number, line.reason) for line in reported] == [
        (1, "no such object"), (2, reported[1].reason), (4, "not an image")]
    assert reported[1].reason.startswith("is not valid JSON")


def test_manifest_error_is_a_value_error():
    assert issubclass(ManifestError, ValueError)


def test_lines_are_numbered_as_in_the_file_and_items_by_position_without_blank_ones():
    assert [(line.number, line.item_id) for line in manifest_lines(TEXT_MANIFEST)] == [(1, 0), (2, 1), (4, 2)]


def test_work_item_ids_are_positions_that_skip_blank_lines():
    assert list(work_items(TEXT_MANIFEST, "source")) == [
        {"id": 0, "source": "The match ended in a draw."},
        {"id": 1, "source": "Shares fell sharply on Monday."},
        {"id": 2, "source": "A new phone was launched."},
    ]


def test_invalid_lines_are_no_work_items_and_the_others_keep_their_ids():
    lines = ['{"source": "a"}', "oops", "", '{"source": "b"}', "[1]", '{"source": "c"}']
    assert list(work_items(lines, "source", invalid_ids=[1, 3])) == [
        {"id": 0, "source": "a"}, {"id": 2, "source": "b"}, {"id": 4, "source": "c"}]


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
