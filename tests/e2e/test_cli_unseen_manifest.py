"""`autolabel run` on a text manifest it has never seen, with its own labels file and answers: texts
that hold U+0085, U+2028/9 and other characters line splitters trip on, a text of exactly 100,000
characters, and bad lines of every kind (tests/e2e/hard_text.py). Every good item is labeled once
with its text unchanged; every bad line is skipped, counted and named by its line number, and no
worker was asked about it.
"""

from __future__ import annotations

import json

import pytest

from autolabel.cli import main
from tests.conftest import read_jsonl
from tests.e2e.hard_text import BAD_LINES, write_job

pytestmark = pytest.mark.e2e


def _write_job(folder, items):
    job = write_job(folder, items=items, bad_lines=0)
    return job["manifest"], job["answers"], job["labels"], job["gold"]


def test_an_automated_job_labels_every_good_line_once_and_reports_each_bad_one(tmp_path, capsys, monkeypatch):
    """Paths relative to the working folder, as a user types them (a relative --workdir once broke Train)."""
    job = write_job(tmp_path / "job", items=1300, bad_lines=30)
    monkeypatch.chdir(tmp_path)
    code = main(["run", "job/notes.manifest", "--task-type", "text-classification", "--labels", "job/topics.json",
                 "--answers", "job/gold.manifest", "--output", "out", "--job-name", "real-text",
                 "--seed", "3", "--workdir", "work"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "iteration 1" in printed.out and "job real-text complete" in printed.out
    assert "30 line(s) of job/notes.manifest could not be labeled" in printed.out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["counters"] == {"TotalLabeled": 1300, "HumanLabeled": report["counters"]["HumanLabeled"],
                                  "MachineLabeled": 1300 - report["counters"]["HumanLabeled"],
                                  "FailedNonRetryableError": 30, "Unlabeled": 0}
    assert report["counters"]["MachineLabeled"] > 300 and report["settings"]["Seed"] == 3

    out = read_jsonl(tmp_path / "out" / "manifests" / "output" / "output.manifest")
    labeled = [line for line in out if "label" in line]
    assert [line["row"] for line in labeled] == list(range(1300))  # each good line once, in order
    assert [line["source"] for line in labeled] == job["texts"]  # U+0085, U+2028, 100,000 characters: unchanged
    assert any(len(text) == 100_000 for text in job["texts"])
    machine = [line for line in labeled if line["label-metadata"]["human-annotated"] == "no"]
    assert sum(line["label"] == job["gold"][line["source"]] for line in machine) / len(machine) >= 0.95

    listed = {row["line"]: row["reason"] for row in report["invalidLines"]["listed"]}
    assert sorted(listed) == sorted(job["bad"]) and report["invalidLines"]["count"] == 30
    assert all(listed[number].startswith(reason) for number, reason in job["bad"].items())
    assert {reason for _, reason in BAD_LINES} <= set(job["bad"].values())  # every kind of bad line is in it
    failed = [line for line in out if "failure-reason" in line["label-metadata"]]
    assert [line["label-metadata"]["failure-reason"].split(":")[1] for line in failed] == [
        f" input line {number}" for number in sorted(job["bad"])]
    summary = (tmp_path / "out" / "report.md").read_text()
    assert "30 invalid input line(s) skipped" in summary and f"| {min(job['bad'])} | " in summary
    # No worker was asked about a bad line: no stored answer is about one (the manifest has no blank
    # lines, so an item's id is its line number less one).
    responses = list((tmp_path / "out" / "annotations" / "worker-response").rglob("*.json"))
    assert len(responses) == report["counters"]["HumanLabeled"]
    answered = {int(path.parent.name) for path in responses}  # .../iteration-K/<item id>/<time>-<worker>.json
    assert not answered & {number - 1 for number in job["bad"]}


def test_cli_refuses_answers_that_do_not_cover_the_manifest(tmp_path, capsys):
    manifest, answers, labels, _ = _write_job(tmp_path, items=20)
    answers.write_bytes(b"".join(line + b"\n" for line in answers.read_bytes().split(b"\n")[:-3]))
    code = main(["run", str(manifest), "--task-type", "text-classification", "--labels", str(labels),
                 "--answers", str(answers), "--output", str(tmp_path / "out")])
    assert code == 1
    assert (f"{answers} has no answer for 2 manifest line(s), e.g. line(s) [19, 20] of {manifest}; the simulated "
            "workforce answers only items it knows") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_cli_names_a_bad_labels_file(tmp_path, capsys):
    manifest, answers, labels, _ = _write_job(tmp_path, items=5)
    labels.write_text(json.dumps({"labels": [{"label": "only-one"}]}))
    code = main(["run", str(manifest), "--task-type", "text-classification", "--labels", str(labels),
                 "--answers", str(answers), "--output", str(tmp_path / "out")])
    assert code == 1
    assert f"{labels} is invalid: labels: List should have at least 2 items" in capsys.readouterr().err
