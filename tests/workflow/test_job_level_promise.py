"""A job-level promise (job.json Promise, logic/promise.py) on a real local job: what ComputeThreshold
spends, what the report certifies, and that the output keeps it against the known answers."""

from __future__ import annotations

import json

import pytest

from autolabel.datasets import ANSWER_ATTRIBUTE
from tests.conftest import read_jsonl
from tests.workflow.test_local_workflow import headlines, run_headlines_job  # noqa: F401

TARGET, CONFIDENCE = 0.85, 0.8


@pytest.fixture(scope="module")
def whole_dataset_job(headlines, tmp_path_factory, synthesized_app):  # noqa: F811
    """300 headlines (the automated floor lowered to 200), promised as a whole data set."""
    folder = tmp_path_factory.mktemp("promise")
    report = run_headlines_job(headlines, folder, synthesized_app, job_name="promised", settings={
        "MaxConcurrentTaskCount": 60, "CalibrationSampleSize": 40, "TargetAccuracy": TARGET,
        "ConfidenceLevel": CONFIDENCE, "Promise": "WholeDataset"})
    return report, folder / "out", headlines


def test_each_iteration_spends_its_share_of_the_confidence(whole_dataset_job):
    report, _, _ = whole_dataset_job
    # 300 headlines leave room for one or two model iterations; the split over many is unit-tested.
    searched = [row["threshold"] for row in report["iterations"] if row["threshold"]]
    assert searched
    alpha = 1 - CONFIDENCE
    assert [t["alpha"] for t in searched] == [pytest.approx(alpha / ((k + 1) * (k + 2))) for k in range(len(searched))]
    assert report["promise"]["confidenceSpent"] == [t["alpha"] for t in searched]
    assert all(t["promise"] == "WholeDataset" for t in searched)


def test_the_report_certifies_the_whole_output_within_the_budget(whole_dataset_job):
    report, out, _ = whole_dataset_job
    promise, counters = report["promise"], report["counters"]
    assert promise["kept"] == "WholeDataset"
    # Every machine label the loop accepted is one the ledger counted, and the bound fits the promise.
    assert promise["certifiedMachineLabels"] == counters["MachineLabeled"] > 0
    assert promise["errorBound"] <= (1 - TARGET) * counters["TotalLabeled"] + 1e-6
    assert promise["certifiedLowerBound"] >= TARGET - 1e-9
    assert promise["eachIterationWouldHaveLabeled"] >= 0
    summary = (out / "report.md").read_text(encoding="utf-8")
    assert "Promise kept (WholeDataset)" in summary
    assert (f"human labels counted as right) reaches at least {promise['certifiedLowerBound']:.1%}"
            in summary.replace("\n", " "))
    details = json.loads((out / "activelearning" / "iteration-0" / "threshold.json").read_text(encoding="utf-8"))
    assert details["promise"] == "WholeDataset" and "poolAccepted" in details["eachIteration"]


def test_the_output_is_as_accurate_as_promised_against_the_known_answers(whole_dataset_job):
    report, out, data = whole_dataset_job
    answers = {line["article-id"]: line[ANSWER_ATTRIBUTE] for line in read_jsonl(data["answers"])}
    output = read_jsonl(out / "manifests" / "output" / "output.manifest")
    labeled = [line for line in output if "label" in line]
    right = sum(line["label"] == answers[line["article-id"]] for line in labeled)
    assert len(labeled) == report["counters"]["TotalLabeled"] == 300
    assert right / len(labeled) >= TARGET
