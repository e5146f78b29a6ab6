"""A real local job whose target is out of the model's reach: it says so, stops training after
OutOfReachIterations iterations, and humans label the rest (logic/out_of_reach.py).

The hard case: BBC News headlines whose topics are shuffled among them (benchmarks/datasets.py's
shuffled_labels, every label), so the text tells nothing of the label and no model is much better
than a guess among five topics.
"""

from __future__ import annotations

import io
import json
import shutil

import pytest

from autolabel.runner import RunRequest, run
from benchmarks.datasets import shuffled_labels
from labeling.logic import job_setup
from tests.conftest import read_jsonl
from tests.workflow.test_local_workflow import _entered, execution_history, write_headlines  # noqa: F401

HEADLINES = 380
# Batches of 80 with 60 calibration items (59 are needed to certify 95%): iteration 0 takes 140, each
# later one 80. Two iterations out of reach in a row (fewer than the default 3, to keep the test short)
# leave 160 items: without the stop iteration 2 would train a third model on 80 + 60 of them.
SETTINGS = {"MaxConcurrentTaskCount": 80, "CalibrationSampleSize": 60, "OutOfReachIterations": 2}


@pytest.fixture(scope="module")
def shuffled_headlines(bbc_news, tmp_path_factory):
    """380 BBC News headlines, their topics shuffled among them; embedded once into a cache."""
    names = [c["label"] for c in json.loads(bbc_news["labels"].read_text())["labels"]]

    def shuffle(answers):
        for answer, label in zip(answers, shuffled_labels([a["category"] for a in answers], 1.0, seed=5),
                                 strict=True):
            answer["category"] = label
            answer["category-metadata"] = {**answer["category-metadata"], "class-name": names[label]}

    paths = write_headlines(bbc_news, tmp_path_factory.mktemp("shuffled-headlines"), count=HEADLINES, every=3,
                            relabel=shuffle)
    return {**paths, "gold": {a["article-id"]: a["category"] for a in paths["answer-records"]}}


def test_a_job_whose_target_is_out_of_reach_stops_training_and_humans_label_the_rest(
        shuffled_headlines, tmp_path, synthesized_app, execution_history, monkeypatch):  # noqa: F811
    # Ground Truth's 1,250-item floor, lowered so that 380 headlines take the automated path quickly.
    monkeypatch.setattr(job_setup, "AUTOMATED_LABELING_MIN_ITEMS", 200)
    files = shuffled_headlines
    request = RunRequest(
        manifest=files["manifest"], task_type="text-classification", labels=files["labels"],
        answers=files["answers"], output=tmp_path / "out", workdir=tmp_path / "work", job_name="hopeless",
        settings=SETTINGS,  # StopTrainingWhenOutOfReach true: the default
    )
    shutil.copytree(files["embedding-cache"], tmp_path / "work" / "embedding-cache")
    printed = io.StringIO()
    report = run(request, out=printed, app=synthesized_app)
    events = execution_history["events"]

    # Two models, each finding the target out of reach; then no training job at all.
    trained = [json.loads(e["stateEnteredEventDetails"]["input"])["iteration"] for e in events
               if e.get("stateEnteredEventDetails", {}).get("name", "").startswith("Train-")]
    assert trained == [0, 1]
    rows = report["iterations"]
    assert [row["modelTrained"] for row in rows] == [True, True, False, False]
    assert report["totals"]["modelsTrained"] == 2
    # After the stop: plain batches of 80 (the last one what is left), no calibration part.
    batches = [state["batch"] for state in _entered(events, "HumanLabeling")]
    assert [(b["size"], b["calibrationSize"]) for b in batches] == [
        (140, 60), (80, 60), (80, 0), (80, 0)]

    # Every item is labeled, by humans, with the workers' (shuffled) answers.
    out = read_jsonl(tmp_path / "out" / "manifests" / "output" / "output.manifest")
    assert len(out) == HEADLINES and report["counters"]["Unlabeled"] == 0
    assert report["counters"]["HumanLabeled"] == HEADLINES and report["counters"]["MachineLabeled"] == 0
    assert all(line["label"] == files["gold"][line["article-id"]] for line in out)

    # The report, the summary and the run's output say so.
    declared = report["outOfReach"]
    assert declared["iteration"] == 1 and declared["iterations"] == 2 and declared["trainingStopped"] is True
    assert declared["measure"] == "accuracy" and declared["target"] == 0.95
    assert declared["highestUpperBound"] < 0.95 and declared["modelsTrainedAfter"] == 0
    assert declared["humanLabeledAfter"] == 160
    summary = (tmp_path / "out" / "report.md").read_text()
    assert "**The target looked out of reach.** For 2 iterations in a row, up to iteration 1" in summary
    assert "Training stopped (StopTrainingWhenOutOfReach): no model was trained after iteration 1" in summary
    assert "humans labeled the 160 items left in plain batches" in summary
    lines = printed.getvalue().splitlines()
    assert sum("the target looks out of this model's reach" in line for line in lines) == 2
    assert any("looks out of reach for this model (2 iterations in a row" in line
               and "training stopped: humans label the rest" in line for line in lines)
