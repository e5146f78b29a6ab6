"""An object-detection job on the local engine: boxes travel through the task API and come out in
Ground Truth's bounding-box format (a human-only job: no model is trained below 1,250 items)."""

from __future__ import annotations

import json

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


def test_images_that_are_missing_or_not_images_are_reported_and_the_rest_labeled(scenes, tmp_path, synthesized_app):
    """ValidateJob reads each image's first bytes: a missing file, an empty one and a text file named
    .png are bad lines, named by line number; nobody is asked about them, and the rest is labeled."""
    folder = scenes["manifest"].parent
    (folder / "notes.png").write_text("not a picture")
    (folder / "empty.png").write_bytes(b"")
    good = [line for line in scenes["manifest"].read_text().split("\n") if line][:10]
    bad = {3: "images/gone.png", 7: "notes.png", 11: "empty.png"}  # line number -> source-ref
    lines = list(good)
    for number, ref in sorted(bad.items()):
        lines.insert(number - 1, json.dumps({"source-ref": ref}))
    manifest = folder / "with-bad-images.manifest"
    manifest.write_text("\n".join(lines) + "\n")
    report = run(RunRequest(
        manifest=manifest, task_type="object-detection", labels=scenes["labels"], answers=scenes["answers"],
        output=tmp_path / "out", workdir=tmp_path / "work", job_name="bad-images",
        settings={"LabelAttributeName": BOX_ATTRIBUTE, "MaxInvalidLinePercentage": 25},
    ), app=synthesized_app)
    assert report["counters"]["HumanLabeled"] == 10 and report["counters"]["FailedNonRetryableError"] == 3
    assert {row["line"]: row["reason"] for row in report["invalidLines"]["listed"]} == {
        3: "source-ref 'images/gone.png' is not an s3://bucket/key URI (run locally, a file that does not exist; "
           "local paths are read from the manifest's folder)",
        7: "source-ref is not an image (PNG, JPEG, GIF, BMP, TIFF or WebP expected)",
        11: "source-ref is an empty file, not an image",
    }
    out = read_jsonl(tmp_path / "out" / "manifests" / "output" / "output.manifest")
    assert [line["source-ref"] for line in out] == [json.loads(line)["source-ref"] for line in lines]  # as input
    for number in bad:
        metadata = out[number - 1][f"{BOX_ATTRIBUTE}-metadata"]
        assert BOX_ATTRIBUTE not in out[number - 1]
        assert metadata["failure-reason"].startswith(f"InvalidInput: input line {number}: source-ref")
    assert report["cost"]["humanAnswers"] == 10  # no worker was asked about a bad line
