"""Faults on the local cloud: a crashed Lambda step is run again and the job ends as if it never crashed.

Every writing step of the loop crashes once (logic/resume.py: each is a function of its input
state and the files before it): before it runs, at its first S3 write (that object stored,
nothing after it), or after it returned (its result lost). The workflow retries a crash
(infra/constructs/workflow.py LAMBDA_CRASHES), so the job must end with the output of a run
without faults: the same labels, the same human batches, every human answer counted once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autolabel import runner
from autolabel.localcloud.cloud import LocalCloud
from autolabel.runner import RunRequest, run
from tests.conftest import read_jsonl

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
}
ITEMS = 1_300  # automated labeling starts at 1,250


class CrashingCloud(LocalCloud):
    """The local cloud, with CRASHES injected into its functions as it starts."""

    crashes: list[tuple[str, str]] = []

    def start(self) -> None:
        super().start()
        for handler, points in CRASHES.items():
            self.registry.inject(self.function_for_handler(handler), *points)
        CrashingCloud.crashes = self.registry.crashes  # read once the run is over


@pytest.fixture(scope="module")
def manifest(bbc_news, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "articles.manifest"
    lines = bbc_news["manifest"].read_text(encoding="utf-8").splitlines()[:ITEMS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _request(manifest: Path, bbc_news, folder: Path, workdir: Path) -> RunRequest:
    # One workdir for both runs: the second reads the articles' embeddings from its cache.
    return RunRequest(manifest=manifest, task_type="text-classification", labels=bbc_news["labels"],
                      answers=bbc_news["answers"], output=folder, workdir=workdir, job_name="faults",
                      settings={"MaxConcurrentTaskCount": 200, "CalibrationSampleSize": 100})


def _without_times(lines: list[dict]) -> list[dict]:
    return [{**line, "label-metadata": {k: v for k, v in line["label-metadata"].items() if k != "creation-date"}}
            for line in lines]


def _answers_per_item(output: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for response in (output / "annotations" / "worker-response").rglob("*.json"):
        item = f"{response.parent.parent.name}/{response.parent.name}"
        counts[item] = counts.get(item, 0) + 1
    return counts


def test_every_step_crashing_once_changes_nothing_in_the_output(manifest, bbc_news, tmp_path, monkeypatch,
                                                                 synthesized_app):
    workdir = tmp_path / "work"
    clean = run(_request(manifest, bbc_news, tmp_path / "clean", workdir), app=synthesized_app)
    monkeypatch.setattr(runner, "LocalCloud", CrashingCloud)
    crashed = run(_request(manifest, bbc_news, tmp_path / "crashed", workdir), app=synthesized_app)

    injected = sorted(CrashingCloud.crashes)
    names = {point for _, point in injected}
    assert len(injected) == sum(map(len, CRASHES.values())) and names == {"before", "midway", "after"}
    assert crashed["counters"] == clean["counters"] and clean["counters"]["MachineLabeled"] > 0
    assert crashed["totals"]["humanAnswers"] == clean["totals"]["humanAnswers"] == clean["counters"]["HumanLabeled"]
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
