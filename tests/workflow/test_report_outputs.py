"""The job report a real local run writes beside the output manifest: report.json, report.md and
the accuracy-coverage plot (the plot's curves and marks are specified in tests/unit/test_report_plot.py)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from autolabel.runner import RunRequest, run
from labeling.layout import ACCURACY_COVERAGE_PLOT
from labeling.logic.report_plot import DPI, HEIGHT_IN, WIDTH_IN

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run(bbc_news, tmp_path, synthesized_app, **settings):
    """The first 60 BBC News articles, in human batches of at most 25 (a job this small is human-only)."""
    manifest = tmp_path / "small.manifest"
    lines = bbc_news["manifest"].read_text(encoding="utf-8").splitlines()[:60]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    report = run(RunRequest(
        manifest=manifest, task_type="text-classification", labels=bbc_news["labels"], answers=bbc_news["answers"],
        output=out, workdir=tmp_path / "work", job_name="small",
        settings={"MaxConcurrentTaskCount": 25, "CalibrationSampleSize": 10, **settings},
    ), app=synthesized_app)
    return report, out


@pytest.fixture(scope="module")
def small_job(bbc_news, tmp_path_factory, synthesized_app):
    return _run(bbc_news, tmp_path_factory.mktemp("small"), synthesized_app)


def test_report_json_has_a_row_per_iteration_that_adds_up_to_the_counters(small_job):
    report, out = small_job
    assert json.loads((out / "report.json").read_text()) == report
    assert report["status"] == "Completed" and report["stopReason"] is None
    assert [(row["iteration"], row["humanLabeled"], row["machineLabeled"], row["modelTrained"], row["leftUnlabeled"])
            for row in report["iterations"]] == [(0, 25, 0, False, 35), (1, 25, 0, False, 10), (2, 10, 0, False, 0)]
    assert report["totals"]["humanLabeled"] == report["counters"]["HumanLabeled"] == 60
    assert report["totals"]["humanAnswers"] == report["cost"]["humanAnswers"] == 60
    assert report["cost"]["humanUSD"] == pytest.approx(60 * 0.08)
    # Human labeling only: no model to name, as Ground Truth's FinalActiveLearningModelArn is then absent.
    assert report["finalActiveLearningModel"] is None
    assert report["labelingJobOutput"]["finalActiveLearningModelArn"] is None
    assert report["labelingJobOutput"]["outputDatasetS3Uri"].endswith(
        "/jobs/small/output/manifests/output/output.manifest")


def test_report_md_and_the_plot_lie_beside_report_json(small_job):
    report, out = small_job
    text = (out / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# Labeling job small: Completed\n")
    assert "60 items: 60 labeled by humans (100%), 0 by the model (0%), 0 left unlabeled." in text
    assert "| 0 | 25 | 0 | 0 | no model | – | – | – | 35 | 0 | 0 |" in text
    assert "Machine labels: none; humans labeled every item." in text
    assert "## Final model\n\nNone: no model was trained (the job labeled by humans only)." in text
    assert f"![Accuracy against coverage]({ACCURACY_COVERAGE_PLOT})" in text
    plot = out / ACCURACY_COVERAGE_PLOT
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size == (int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI))


def test_a_job_ended_by_a_stopping_condition_is_reported_stopped(bbc_news, tmp_path, synthesized_app):
    report, out = _run(bbc_news, tmp_path, synthesized_app, StoppingConditions={"MaxHumanLabeledObjectCount": 40})
    assert report["status"] == "Stopped" and report["stopReason"] == "MaxHumanLabeledObjectCount"
    assert [row["humanLabeled"] for row in report["iterations"]] == [25, 15]
    assert report["iterations"][-1]["leftUnlabeled"] == report["counters"]["Unlabeled"] == 20
    assert (out / "report.md").read_text(encoding="utf-8").startswith(
        "# Labeling job small: Stopped (MaxHumanLabeledObjectCount)\n")
