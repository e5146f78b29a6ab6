"""BBC News (2,225 articles) labeled end to end on the local cloud by the simulated workforce."""

from __future__ import annotations

import pytest

from autolabel.runner import RunRequest, run
from tests.conftest import read_jsonl

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("bbc-output")


@pytest.fixture(scope="module")
def labeled(bbc_news, out, synthesized_app):
    report = run(RunRequest(
        manifest=bbc_news["manifest"], task_type="text-classification", labels=bbc_news["labels"],
        answers=bbc_news["answers"], output=out / "job", workdir=out / "work", job_name="bbc-news",
    ), app=synthesized_app)
    return report, read_jsonl(out / "job" / "manifests" / "output" / "output.manifest")


def test_every_article_is_labeled_exactly_once_in_input_order(labeled, bbc_news):
    _, output = labeled
    inputs = read_jsonl(bbc_news["manifest"])
    assert len(output) == len(inputs) == 2225
    for line, item in zip(output, inputs, strict=True):
        assert line["source"] == item["source"] and line["article-id"] == item["article-id"]
        assert set(line) == {"source", "article-id", "label", "label-metadata"}


def test_counters_add_up(labeled):
    report, output = labeled
    counters = report["counters"]
    machine = sum(line["label-metadata"]["human-annotated"] == "no" for line in output)
    assert counters == {"TotalLabeled": 2225, "HumanLabeled": 2225 - machine, "MachineLabeled": machine,
                        "FailedNonRetryableError": 0, "Unlabeled": 0}


def test_most_articles_are_machine_labeled_and_machine_labels_keep_the_promise(labeled, bbc_news):
    report, output = labeled
    gold = {line["article-id"]: line["category"] for line in read_jsonl(bbc_news["answers"])}
    machine = [line for line in output if line["label-metadata"]["human-annotated"] == "no"]
    correct = sum(line["label"] == gold[line["article-id"]] for line in machine)
    print(f"BBC News: {len(machine)} of 2225 machine-labeled ({len(machine) / 2225:.1%}), "
          f"{correct / len(machine):.2%} correct; report: {report['promise']}, cost: {report['cost']}")
    assert len(machine) / len(output) >= 0.60
    assert correct / len(machine) >= 0.95
    humans = [line for line in output if line["label-metadata"]["human-annotated"] == "yes"]
    assert all(line["label"] == gold[line["article-id"]] for line in humans)


def test_output_is_in_ground_truths_classification_format(labeled, bbc_news):
    report, output = labeled
    names = [c["label"] for c in __import__("json").loads(bbc_news["labels"].read_text())["labels"]]
    for line in output:
        metadata = line["label-metadata"]
        assert metadata["class-name"] == names[line["label"]]
        assert metadata["type"] == "groundtruth/text-classification"
        assert metadata["job-name"] == "labeling-job/bbc-news"
        if metadata["human-annotated"] == "yes":
            assert metadata["confidence"] == 0.0  # one worker per item: Ground Truth writes 0.00
        else:
            assert 0 < metadata["confidence"] <= 1
        assert metadata["creation-date"][:4].isdigit()
    thresholds = [it["threshold"]["value"] for it in report["iterations"] if it["machineLabeled"]]
    assert thresholds and all(0 < t < 1 for t in thresholds)
    assert report["cost"]["totalUSD"] < report["cost"]["allHumanUSD"]


def test_report_summary_and_plot_show_each_iteration(labeled, out):
    report, _ = labeled
    job = out / "job"
    summary = (job / "report.md").read_text()
    for row in report["iterations"]:
        assert f"| {row['iteration']} |" in summary
    assert f"{report['counters']['MachineLabeled']:,}" in summary
    png = (job / "accuracy-coverage.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
