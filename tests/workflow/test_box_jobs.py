"""An object-detection job on the local engine: boxes travel through the task API and come out in
Ground Truth's bounding-box format (a human-only job: no model is trained below 1,250 items)."""

from __future__ import annotations

import pytest

from autolabel.images import BOX_ATTRIBUTE, write_shapes
from autolabel.runner import RunRequest, run
from tests.conftest import read_jsonl


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_shapes(tmp_path_factory.mktemp("scenes"), count=30, seed=3)


def test_three_workers_boxes_per_image_are_consolidated_into_the_output(scenes, tmp_path, synthesized_app):
    report = run(RunRequest(
        manifest=scenes["manifest"], task_type="object-detection", labels=scenes["labels"],
        answers=scenes["answers"], output=tmp_path / "out", workdir=tmp_path / "work", job_name="boxes",
        settings={"LabelAttributeName": BOX_ATTRIBUTE, "NumberOfHumanWorkersPerDataObject": 3,
                  "MaxConcurrentTaskCount": 20, "CalibrationSampleSize": 10},
    ), app=synthesized_app)
    out = read_jsonl(tmp_path / "out" / "manifests" / "output" / "output.manifest")
    truth = read_jsonl(scenes["answers"])
    assert report["automatedLabeling"] is False and report["counters"]["HumanLabeled"] == 30
    assert report["cost"]["humanAnswers"] == 90
    for line, known in zip(out, truth, strict=True):
        assert line["source-ref"] == known["source-ref"]
        # Three workers drew the same boxes: each object is theirs, agreed by all.
        assert line[BOX_ATTRIBUTE] == known[BOX_ATTRIBUTE]
        metadata = line[f"{BOX_ATTRIBUTE}-metadata"]
        assert metadata["objects"] == [{"confidence": 1.0}] * len(known[BOX_ATTRIBUTE]["annotations"])
        # Ground Truth's class-map names the classes this image's boxes have, not every label.
        known_map = known[f"{BOX_ATTRIBUTE}-metadata"]["class-map"]
        assert metadata["class-map"] == {str(c): known_map[str(c)]
                                         for c in sorted({a["class_id"] for a in line[BOX_ATTRIBUTE]["annotations"]})}
        assert metadata["type"] == "groundtruth/object-detection" and metadata["human-annotated"] == "yes"
    responses = list((tmp_path / "out" / "annotations" / "worker-response").rglob("*.json"))
    assert len(responses) == 90
