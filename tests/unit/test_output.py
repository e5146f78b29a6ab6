"""The output manifest, in Ground Truth's format (logic/labels.py, logic/output.py).

report.json is specified in test_report.py."""

import json

import pytest

from labeling.logic.labels import DuplicateLabelError, merged_by_id
from labeling.logic.manifest import InvalidLine
from labeling.logic.output import INVALID_LINE_TEXT, Counters, MissingLabelError, groundtruth_job_name, output_lines
from labeling.task_types import task_type

TEXT = task_type("text-classification")
NAMES = ["business", "sport", "tech"]
FMT = dict(attribute="topic", label_names=NAMES, task=TEXT, job_name="bbc-news")


def human(item_id, label, *, workers=1, confidence=1.0):
    return {"id": item_id, "label": label, "confidence": confidence, "human": True, "workers": workers,
            "createdAt": "2026-03-01T10:00:00.000000"}


def machine(item_id, label, confidence):
    return {"id": item_id, "label": label, "confidence": confidence, "human": False,
            "createdAt": "2026-03-01T11:30:00.000000"}


class TestMergedById:
    def test_merges_label_files_into_id_order(self):
        consolidated_0 = [human(0, 1), human(3, 0), human(7, 2)]
        machine_0 = [machine(1, 0, 0.99), machine(2, 2, 0.98), machine(8, 1, 0.97)]
        consolidated_1 = [human(4, 1), human(5, 1), human(6, 0)]
        merged = list(merged_by_id(consolidated_0, machine_0, consolidated_1))
        assert [r["id"] for r in merged] == list(range(9))
        assert merged[1] == machine(1, 0, 0.99)

    def test_no_files_no_labels(self):
        assert list(merged_by_id()) == []

    def test_item_labeled_twice_is_an_error(self):
        merged = merged_by_id([human(0, 1), human(3, 0)], [machine(1, 0, 0.9), machine(3, 2, 0.9)])
        with pytest.raises(DuplicateLabelError, match=r"^item 3 was labeled twice$"):
            list(merged)


MANIFEST = [
    '{"source": "Shares fell sharply.", "origin": "bbc", "meta": {"year": 2005}}',
    "",
    '{"source": "United won 2-0."}',
    '{"source": "A new phone was launched."}',
]


class TestOutputLines:
    def lines(self, labels, counters=None, manifest=MANIFEST, **fmt):
        return list(output_lines(manifest, iter(labels), counters or Counters(), **{**FMT, **fmt}))

    def test_writes_ground_truths_classification_format(self):
        out = self.lines([human(0, 0), machine(1, 1, 0.987654321), human(2, 2, workers=3, confidence=2 / 3)])
        assert out[0] == {
            "source": "Shares fell sharply.", "origin": "bbc", "meta": {"year": 2005},
            "topic": 0,
            "topic-metadata": {
                "class-name": "business",
                "confidence": 0.0,  # one worker: Ground Truth writes 0.00 (test_groundtruth_format.py)
                "type": "groundtruth/text-classification",
                "job-name": "labeling-job/bbc-news",
                "human-annotated": "yes",
                "creation-date": "2026-03-01T10:00:00.000000",
            },
        }
        assert out[1] == {
            "source": "United won 2-0.",
            "topic": 1,
            "topic-metadata": {
                "class-name": "sport",
                "confidence": 0.9877,
                "type": "groundtruth/text-classification",
                "job-name": "labeling-job/bbc-news",
                "human-annotated": "no",
                "creation-date": "2026-03-01T11:30:00.000000",
            },
        }
        assert out[2]["topic"] == 2
        assert out[2]["topic-metadata"]["class-name"] == "tech"
        assert out[2]["topic-metadata"]["confidence"] == 0.6667

    def test_every_line_is_json_serializable(self):
        for line in self.lines([human(0, 0), machine(1, 1, 0.9), human(2, 2)]):
            assert json.loads(json.dumps(line)) == line

    def test_image_task_writes_its_own_type(self):
        manifest = ['{"source-ref": "s3://bucket/cat.jpg"}']
        out = self.lines([machine(0, 1, 0.95)], manifest=manifest, task=task_type("image-classification"),
                         attribute="animal", label_names=["dog", "cat"])
        assert out == [{
            "source-ref": "s3://bucket/cat.jpg",
            "animal": 1,
            "animal-metadata": {
                "class-name": "cat", "confidence": 0.95, "type": "groundtruth/image-classification",
                "job-name": "labeling-job/bbc-news", "human-annotated": "no",
                "creation-date": "2026-03-01T11:30:00.000000",
            },
        }]

    def test_job_name_is_prefixed_like_ground_truth(self):
        assert groundtruth_job_name("bbc-news") == "labeling-job/bbc-news"

    def test_counts_human_and_machine_labels(self):
        counters = Counters()
        self.lines([human(0, 0), machine(1, 1, 0.9), machine(2, 2, 0.95)], counters)
        assert counters == Counters(TotalLabeled=3, HumanLabeled=1, MachineLabeled=2)
        assert counters.FailedNonRetryableError == 0 and counters.Unlabeled == 0

    def test_an_invalid_line_comes_back_as_input_with_its_reason_and_is_counted(self):
        manifest = [MANIFEST[0], '{"text": "wrong key", "topic": 1}', "{oops", MANIFEST[2]]
        invalid = [InvalidLine(1, 2, "has no 'source' key; add the item under 'source'"),
                   InvalidLine(2, 3, "is not valid JSON (Expecting property name enclosed in double quotes at "
                                     "column 2); write one JSON object per line")]
        counters = Counters()
        out = self.lines([human(0, 0), machine(3, 1, 0.99)], counters, manifest=manifest, invalid=invalid)
        assert len(out) == 4 and out[3]["topic"] == 1
        assert out[1] == {"text": "wrong key", "topic-metadata": {  # a stale label attribute is not this job's
            "failure-reason": "InvalidInput: input line 2: has no 'source' key; add the item under 'source'",
            "type": "groundtruth/text-classification", "job-name": "labeling-job/bbc-news"}}
        assert out[2] == {INVALID_LINE_TEXT: "{oops", "topic-metadata": {
            "failure-reason": f"InvalidInput: input line 3: {invalid[1].reason}",
            "type": "groundtruth/text-classification", "job-name": "labeling-job/bbc-news"}}
        assert counters == Counters(TotalLabeled=2, HumanLabeled=1, MachineLabeled=1, FailedNonRetryableError=2)

    def test_item_without_a_label_is_an_error_naming_it(self):
        message = r"^item 1 \(input line 2\) has no label$"
        with pytest.raises(MissingLabelError, match=message):
            self.lines([human(0, 0), human(2, 2)], manifest=[MANIFEST[0], MANIFEST[2], MANIFEST[3]])

    def test_missing_last_label_is_an_error(self):
        message = r"^item 2 \(input line 3\) has no label$"
        with pytest.raises(MissingLabelError, match=message):
            self.lines([human(0, 0), human(1, 2)], manifest=[MANIFEST[0], MANIFEST[2], MANIFEST[3]])

    def test_label_for_no_input_line_is_an_error(self):
        with pytest.raises(MissingLabelError, match=r"^label for item 3 matches no input line$"):
            self.lines([human(0, 0), human(1, 1), human(2, 2), machine(3, 0, 0.99)])
