"""Where our output follows Ground Truth's documented format ("Output data", sms-data-output, and
CreateLabelingJob's LabelAttributeName): a single worker's confidence, a box line's class-map, the
label attribute names Ground Truth refuses, and the intermediate manifest of each human batch."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from labeling.dal import s3
from labeling.handlers.consolidate_annotations import consolidate
from labeling.logic.job_setup import JobSetupError, parse_job_config
from labeling.logic.label_kinds import BoundingBoxes
from labeling.logic.output import labeled_line
from labeling.logic.worker_answers import file_name, response_record
from labeling.models.state import JobState
from labeling.task_types import task_type

TEXT = task_type("text-classification")
DETECTION = task_type("object-detection")
TOPICS = ["business", "sport", "tech"]
SHAPES = ["circle", "square", "triangle"]
CREATED = "2026-03-01T10:00:00.000000"
BOXES = BoundingBoxes()


def human(label, confidence, workers, **extra):
    return {"id": 0, "label": label, "confidence": confidence, "human": True, "workers": workers,
            "createdAt": CREATED, **extra}


def machine(label, confidence, **extra):
    return {"id": 0, "label": label, "confidence": confidence, "human": False, "createdAt": CREATED, **extra}


def text_line(label):
    return labeled_line({"source": "United won 2-0."}, label, attribute="topic", label_names=TOPICS, task=TEXT,
                        job_name="news")


def box(class_id, left=1, top=2, width=3, height=4):
    return {"class_id": class_id, "left": left, "top": top, "width": width, "height": height}


def boxes_line(label):
    return labeled_line({"source-ref": "s3://b/a.png"}, label, attribute="bounding-box", label_names=SHAPES,
                        task=DETECTION, job_name="shapes")["bounding-box-metadata"]


def image(*annotations):
    return {"image_size": [{"width": 64, "height": 64, "depth": 3}], "annotations": list(annotations)}


class TestConfidence:
    def test_one_workers_class_is_written_with_confidence_0(self):
        record = human(1, 1.0, workers=1)
        metadata = text_line(record)["topic-metadata"]
        assert metadata["confidence"] == 0.0 and metadata["human-annotated"] == "yes"
        assert record["confidence"] == 1.0  # the label record keeps what the loop computed

    def test_several_workers_class_is_written_with_the_share_who_agreed(self):
        assert text_line(human(1, 2 / 3, workers=3))["topic-metadata"]["confidence"] == 0.6667

    def test_a_machine_label_is_written_with_the_models_confidence(self):
        assert text_line(machine(2, 0.987654))["topic-metadata"]["confidence"] == 0.9877

    def test_one_workers_boxes_are_each_written_with_confidence_0(self):
        record = human(image(box(0), box(2)), 1.0, workers=1, objects=[{"confidence": 1.0}, {"confidence": 1.0}])
        assert boxes_line(record)["objects"] == [{"confidence": 0.0}, {"confidence": 0.0}]

    def test_several_workers_boxes_keep_the_share_of_workers_who_drew_each(self):
        record = human(image(box(0), box(2)), 2 / 3, workers=3, objects=[{"confidence": 1.0}, {"confidence": 2 / 3}])
        assert boxes_line(record)["objects"] == [{"confidence": 1.0}, {"confidence": 0.6667}]


class TestClassMap:
    def test_names_only_the_classes_of_this_images_boxes_by_id(self):
        record = machine(image(box(2), box(0), box(2)), 0.9, objects=[{"confidence": 0.9}] * 3)
        assert boxes_line(record)["class-map"] == {"0": "circle", "2": "triangle"}

    def test_an_image_without_boxes_has_an_empty_class_map(self):
        assert boxes_line(machine(image(), 0.95, objects=[]))["class-map"] == {}


class TestLabelAttributeName:
    def refused(self, name):
        with pytest.raises(JobSetupError) as error:
            parse_job_config({"TaskType": "text-classification", "LabelAttributeName": name}, "job.json")
        return str(error.value)

    @pytest.mark.parametrize("name,instead", [
        ("topic-metadata", "topic"), ("topic-metadata-v2", "topic-v2"), ("source-metadata", "label")])
    def test_a_name_containing_metadata_is_refused_naming_one_to_use(self, name, instead):
        assert self.refused(name) == (
            f"job.json is invalid: LabelAttributeName: Value error, '{name}' contains '-metadata', which Ground "
            f"Truth does not allow: the label's metadata is written under '<name>-metadata'; use e.g. '{instead}'")

    def test_a_name_ending_in_ref_is_refused_naming_one_to_use(self):
        assert self.refused("mask-ref") == (
            "job.json is invalid: LabelAttributeName: Value error, 'mask-ref' ends with '-ref', which Ground Truth "
            "keeps for labels stored as files (semantic segmentation, video and point cloud jobs); use e.g. 'mask'")

    @pytest.mark.parametrize("name", ["source", "source-ref"])
    def test_the_data_objects_own_keys_are_refused(self, name):
        assert self.refused(name) == (
            f"job.json is invalid: LabelAttributeName: Value error, '{name}' is the manifest's key for the data "
            "object, and the label would overwrite it; use another name, e.g. 'label'")

    @pytest.mark.parametrize("name", ["my_label", "-topic", "topic-", "a" * 128, ""])
    def test_a_name_outside_ground_truths_pattern_is_refused(self, name):
        assert self.refused(name).endswith(
            "use 1 to 127 letters, digits and hyphens, starting and ending with a letter or digit, "
            "e.g. 'label' or 'bounding-box'")

    @pytest.mark.parametrize("name", ["label", "bounding-box", "Source", "refs", "a--b", "meta-data", "a" * 127])
    def test_ground_truths_names_are_accepted(self, name):
        assert parse_job_config({"TaskType": "text-classification", "LabelAttributeName": name},
                                "job.json").LabelAttributeName == name


BUCKET = "jobs-bucket"


@pytest.fixture
def bucket(fake_aws_credentials, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    s3._client.cache_clear()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield boto3.client("s3")
    s3._client.cache_clear()


def _state(task, attribute, names, workers, batch_key, iteration=1):
    return JobState.model_validate({
        "job": {"name": "small", "bucket": BUCKET, "prefix": "jobs/small/", "outputPrefix": "jobs/small/output/",
                "automated": False, "labelNames": names,
                "settings": {"TaskType": task, "LabelAttributeName": attribute,
                             "NumberOfHumanWorkersPerDataObject": workers}},
        "runId": "r1", "iteration": iteration, "counts": {"total": 10},
        "batch": {"uri": f"s3://{BUCKET}/{batch_key}", "size": 2, "calibrationSize": 1},
    })


def _put_jsonl(client, key, records):
    client.put_object(Bucket=BUCKET, Key=key, Body="".join(json.dumps(r) + "\n" for r in records).encode())


def _put_response(client, layout, k, item_id, worker, content):
    """A worker-response file as the task API writes it (Ground Truth's shape, labeling.logic.worker_answers)."""
    record = response_record(answer_content=content, worker_id=worker, worker_metadata={}, accepted_at=1_000,
                             submitted_at=2_000)
    client.put_object(Bucket=BUCKET, Key=layout.worker_response(k, item_id, file_name(2_000, worker)),
                      Body=json.dumps(record).encode())


def _read_jsonl(client, key):
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


class TestIntermediateManifest:
    def test_consolidation_writes_the_batch_in_the_output_manifests_line_format(self, bucket):
        state = _state("text-classification", "topic", TOPICS, 3, "jobs/small/output/batch.jsonl")
        layout = state.job.layout
        _put_jsonl(bucket, "jobs/small/output/batch.jsonl", [
            {"id": 3, "source": "Shares fell.", "role": "train"},
            {"id": 7, "source": "A new phone.", "role": "calibration"},
        ])
        answers = {3: ["business", "business", "sport"], 7: ["tech", "tech", "tech"]}
        for item_id, labels in answers.items():
            for number, label in enumerate(labels):
                worker = f"w{number}"
                _put_response(bucket, layout, 1, item_id, worker, {"label": label})

        assert consolidate(state) == 2
        key = layout.intermediate_manifest(1)
        assert key == "jobs/small/output/annotations/intermediate/1/annotations.manifest"
        lines = _read_jsonl(bucket, key)
        records = _read_jsonl(bucket, layout.consolidated(1))
        assert lines == [
            labeled_line({"source": record["source"]}, record, attribute="topic", label_names=TOPICS, task=TEXT,
                         job_name="small")
            for record in records
        ]
        assert lines[0] == {"source": "Shares fell.", "topic": 0, "topic-metadata": {
            "class-name": "business", "confidence": 0.6667, "type": "groundtruth/text-classification",
            "job-name": "labeling-job/small", "human-annotated": "yes", "creation-date": records[0]["createdAt"]}}
        assert lines[1]["topic"] == 2 and lines[1]["topic-metadata"]["confidence"] == 1.0

    def test_one_workers_boxes_in_the_intermediate_manifest(self, bucket):
        state = _state("object-detection", "bounding-box", SHAPES, 1, "jobs/small/output/batch.jsonl", iteration=0)
        layout = state.job.layout
        _put_jsonl(bucket, "jobs/small/output/batch.jsonl", [{"id": 0, "source-ref": "s3://b/a.png", "role": "train"}])
        drawn = [{"label": "triangle", "left": 1, "top": 2, "width": 3, "height": 4}]
        size = {"width": 64, "height": 48}
        _put_response(bucket, layout, 0, 0, "w1", {"boundingBox": {"boundingBoxes": drawn,
                                                                   "inputImageProperties": size}})

        assert consolidate(state) == 1
        [line] = _read_jsonl(bucket, layout.intermediate_manifest(0))
        assert line["source-ref"] == "s3://b/a.png"
        assert line["bounding-box"] == {"image_size": [{"width": 64, "height": 48, "depth": 3}],
                                        "annotations": [box(2)]}
        metadata = line["bounding-box-metadata"]
        assert metadata["objects"] == [{"confidence": 0.0}] and metadata["class-map"] == {"2": "triangle"}
        assert set(line) == {"source-ref", "bounding-box", "bounding-box-metadata"}
