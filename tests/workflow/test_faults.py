"""Faults on the local cloud: a crashed Lambda step is run again and the job ends as if it never crashed.

Every writing step of the loop crashes once (logic/resume.py: each is a function of its input
state and the files before it): before it runs, at its first S3 write (that object stored,
nothing after it), or after it returned (its result lost). The workflow retries a crash
(infra/constructs/workflow.py LAMBDA_CRASHES), so the job must end with the output of a run
without faults: the same labels, the same human batches, every human answer counted once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from autolabel import runner
from autolabel.localcloud.cloud import LocalCloud
from autolabel.localcloud.workforce import SimulatedWorkforce
from autolabel.runner import RunRequest, run
from labeling.logic import job_setup
from tests.conftest import read_jsonl
from tests.workflow.test_local_workflow import headlines  # noqa: F401

# handler -> where its invocations crash, in turn (engine.CRASH_POINTS)
CRASHES = {
    "labeling.handlers.validate_job.handler": ("before", "after"),
    "labeling.handlers.select_sample.handler": ("midway",),
    "labeling.handlers.publish_human_tasks.handler": ("after",),
    "labeling.handlers.consolidate_annotations.handler": ("midway", "after"),
    "labeling.handlers.compute_threshold.handler": ("after",),
    "labeling.handlers.apply_threshold.handler": ("midway",),
    "labeling.handlers.select_ambiguous.handler": ("midway", "after"),
    "labeling.handlers.write_output.handler": ("midway", "after"),
    "labeling.handlers.select_audit.handler": ("midway", "after"),
    "labeling.handlers.consolidate_audit.handler": ("midway", "after"),
}
class CrashingCloud(LocalCloud):
    """The local cloud, with CRASHES injected into its functions as it starts."""

    crashes: list[tuple[str, str]] = []

    def start(self) -> None:
        super().start()
        for handler, points in CRASHES.items():
            self.registry.inject(self.function_for_handler(handler), *points)
        CrashingCloud.crashes = self.registry.crashes  # read once the run is over


def _request(headlines, folder: Path, workdir: Path) -> RunRequest:  # noqa: F811
    # 300 headlines, a first batch of 140 (60 to calibrate): a model labels part of the pool, the
    # ambiguous rest goes to humans in a second batch. Both runs read the embeddings from one cache.
    if not (workdir / "embedding-cache").exists():
        shutil.copytree(headlines["embedding-cache"], workdir / "embedding-cache")
    return RunRequest(manifest=headlines["manifest"], task_type="text-classification", labels=headlines["labels"],
                      answers=headlines["answers"], output=folder, workdir=workdir, job_name="faults",
                      settings={"MaxConcurrentTaskCount": 140, "CalibrationSampleSize": 60, "TargetAccuracy": 0.75,
                                "ConfidenceLevel": 0.5, "AuditSampleSize": 10})


def _without_times(lines: list[dict]) -> list[dict]:
    return [{**line, "label-metadata": {k: v for k, v in line["label-metadata"].items() if k != "creation-date"}}
            for line in lines]


def _answers_per_item(output: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for response in (output / "annotations" / "worker-response").rglob("*.json"):
        item = f"{response.parent.parent.name}/{response.parent.name}"
        counts[item] = counts.get(item, 0) + 1
    return counts


def test_every_step_crashing_once_changes_nothing_in_the_output(headlines, tmp_path, monkeypatch,  # noqa: F811
                                                                 synthesized_app):
    monkeypatch.setattr(job_setup, "AUTOMATED_LABELING_MIN_ITEMS", 200)
    workdir = tmp_path / "work"
    clean = run(_request(headlines, tmp_path / "clean", workdir), app=synthesized_app)
    assert len(clean["iterations"]) >= 2  # a second human batch: every step ran more than once
    monkeypatch.setattr(runner, "LocalCloud", CrashingCloud)
    crashed = run(_request(headlines, tmp_path / "crashed", workdir), app=synthesized_app)

    injected = sorted(CrashingCloud.crashes)
    names = {point for _, point in injected}
    assert len(injected) == sum(map(len, CRASHES.values())) and names == {"before", "midway", "after"}
    assert crashed["counters"] == clean["counters"] and clean["counters"]["MachineLabeled"] > 0
    # The audit (AuditSampleSize) checked machine labels: its human labels replaced them, once.
    assert crashed["audit"] == clean["audit"] and clean["audit"]["sampleSize"] > 0
    assert crashed["totals"]["humanAnswers"] == clean["totals"]["humanAnswers"] == \
        clean["counters"]["HumanLabeled"] - clean["audit"]["sampleSize"]
    for got, want in zip(crashed["iterations"], clean["iterations"], strict=True):
        assert {k: v for k, v in got.items() if not k.endswith("Seconds")} == \
            {k: v for k, v in want.items() if not k.endswith("Seconds")}
    output = "manifests/output/output.manifest"
    assert _without_times(read_jsonl(tmp_path / "crashed" / output)) == \
        _without_times(read_jsonl(tmp_path / "clean" / output))
    # One worker per item, one answer each: a crashed publish or consolidation asked no one twice.
    answers = _answers_per_item(tmp_path / "crashed")
    assert set(answers.values()) == {1} and len(answers) == clean["counters"]["HumanLabeled"]
    assert answers == _answers_per_item(tmp_path / "clean")
    batches = sorted((tmp_path / "crashed" / "activelearning").glob("iteration-*/human-batch.jsonl"))
    assert [p.read_bytes() for p in batches] == [
        (tmp_path / "clean" / p.relative_to(tmp_path / "crashed")).read_bytes() for p in batches]
    assert json.loads((tmp_path / "crashed" / "report.json").read_text())["status"] == "Completed"


class WorkersWhoGoHome(SimulatedWorkforce):
    """The simulated workforce, gone home after SHIFT answers: nobody answers the rest."""

    SHIFT = 30

    def __init__(self, answers, **options):
        super().__init__(_Shift(answers, self), **options)


class _Shift(dict):
    def __init__(self, answers, workforce: SimulatedWorkforce):
        super().__init__(answers)
        self.workforce, self.given = workforce, 0

    def __getitem__(self, key):
        self.given += 1
        if self.given >= WorkersWhoGoHome.SHIFT:
            self.workforce._stop.set()  # this answer is the last
        return super().__getitem__(key)


def test_a_human_batch_that_times_out_fails_keeping_its_answers_and_resumes_without_asking_them_again(
        headlines, tmp_path, monkeypatch, synthesized_app):  # noqa: F811
    # The batches wait TaskAvailabilityLifetimeInSeconds (60 s, its least) on the local engine's clock.
    # Not shortened: the first batch's 25 answers must come in within it under the whole suite's load,
    # and at 10 s they once did not (CI, 2026-12-03: the batch completed just after the job failed).
    lines = headlines["manifest"].read_text(encoding="utf-8").splitlines()[:60]
    manifest = tmp_path / "sixty.manifest"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    request = RunRequest(manifest=manifest, task_type="text-classification", labels=headlines["labels"],
                         answers=headlines["answers"], output=tmp_path / "out", job_name="timeout",
                         settings={"MaxConcurrentTaskCount": 25, "CalibrationSampleSize": 10,
                                   "TaskAvailabilityLifetimeInSeconds": 60})
    monkeypatch.setattr(runner, "SimulatedWorkforce", WorkersWhoGoHome)
    with pytest.raises(runner.RunError, match="TaskAvailabilityLifetimeInSeconds"):
        run(request, app=synthesized_app)
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "Failed" and report["counters"]["HumanLabeled"] == 25  # batch 0; batch 1 not done
    assert "5 of its 25 items had all their 1 answer" in json.loads((out / "failure.json").read_text())["cause"]
    assert len(_answers_per_item(out)) == 30  # every answer given is kept

    monkeypatch.setattr(runner, "SimulatedWorkforce", SimulatedWorkforce)  # back from home
    report = runner.resume(out, app=synthesized_app)
    assert report["status"] == "Completed" and report["counters"]["HumanLabeled"] == 60
    answers = _answers_per_item(out)
    assert len(answers) == 60 and set(answers.values()) == {1}  # the 30 answered items were not asked again
    assert report["totals"]["humanAnswers"] == 60
