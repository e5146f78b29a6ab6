"""A job stopped with Ctrl-C, resumed, killed with SIGKILL during a transform, and resumed again,
ends labeled as one uninterrupted run would be: each item once, no human asked twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autolabel.localcloud.durable_s3 import DurableS3
from autolabel.runner import resume
from labeling.layout import JobLayout
from tests.conftest import read_jsonl

pytestmark = pytest.mark.e2e

ITEMS = 1_300  # automated labeling starts at 1,250
CLI = [sys.executable, "-c", "import sys; from autolabel.cli import main; sys.exit(main())"]


def _as_from_a_terminal() -> None:
    """Ctrl-C's default action, as a command typed at a terminal has it. A suite started in the
    background of a script (`.ci/run &`) ignores SIGINT, every process it starts inherits that, and
    Python then leaves it ignored: the run would never see the test's Ctrl-C (it happened once,
    and the job ran to its end)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str], log: Path) -> subprocess.Popen:
    # Its own session: a signal reaches the run (and the processes it starts), not pytest.
    return subprocess.Popen([*CLI, *args], stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=_as_from_a_terminal)


def _wait_until(predicate, process: subprocess.Popen, log: Path, timeout: float = 420) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended (rc {process.returncode}) too early:\n{log.read_text()}")
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"timed out; the run's output:\n{log.read_text()}")


def _checkpoint(output: Path) -> str:
    """The job's checkpoint as the killed run left it, from the local cloud's S3 on disk."""
    store = DurableS3(output / ".autolabel" / "s3")
    key = JobLayout("jobs/articles").checkpoint
    name = next(name for (_, k), name in store.live().items() if k == key)
    return (store.objects / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def job(bbc_news, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stop-and-resume")
    manifest = folder / "articles.manifest"
    lines = bbc_news["manifest"].read_text(encoding="utf-8").splitlines()[:ITEMS]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"folder": folder, "manifest": manifest, "output": folder / "out"}


def test_a_stopped_and_a_killed_job_resume_to_every_item_labeled_once(job, bbc_news, synthesized_app):
    output, folder = job["output"], job["folder"]
    run_log = folder / "run.log"
    running = _start(["run", str(job["manifest"]), "--task-type", "text-classification",
                      "--labels", str(bbc_news["labels"]), "--answers", str(bbc_news["answers"]),
                      "--output", str(output), "--human-batch-size", "200", "--calibration-sample-size", "100"],
                     run_log)
    # Ctrl-C once the first human batch is labeled.
    _wait_until(lambda: "[ConsolidateAnnotations] iteration 0" in run_log.read_text(), running, run_log)
    os.killpg(running.pid, signal.SIGINT)
    # It ends at once, writing what it has (19 s beside the suite's other process on 2 cores,
    # 2026-12-03): the limit tells a stop that hangs from one that writes its outputs, not speed.
    assert running.wait(timeout=60) == 130
    said = run_log.read_text()
    assert f"continue it with: autolabel resume {output}" in said and "Traceback" not in said
    stopped = json.loads((output / "report.json").read_text())
    assert stopped["status"] == "Stopped" and stopped["stopReason"] == "StopRequested"
    assert not (output / "failure.json").exists()  # Ctrl-C reached the training process too: it is the run's

    first_batch = stopped["counters"]["HumanLabeled"]
    assert first_batch > 0 and stopped["counters"]["MachineLabeled"] == 0
    assert stopped["counters"]["TotalLabeled"] + stopped["counters"]["Unlabeled"] == ITEMS
    partial = read_jsonl(output / "manifests" / "output" / "output.manifest")
    assert len(partial) == ITEMS
    assert sum("label" in line for line in partial) == first_batch
    assert all(line["label-metadata"]["failure-reason"].startswith("JobStopped")
               for line in partial if "label" not in line)

    # Resumed, then killed (SIGKILL: nothing is cleaned up) while the model labels the validation set.
    resume_log = folder / "resume.log"
    resuming = _start(["resume", str(output)], resume_log)
    _wait_until(lambda: any((output / ".autolabel" / "logs").glob("*-val*.log")), resuming, resume_log)
    os.killpg(resuming.pid, signal.SIGKILL)
    resuming.wait(timeout=30)
    checkpoint = json.loads(_checkpoint(output))
    assert checkpoint["after"] == "ConsolidateAnnotations"  # killed in the SageMaker steps after it

    report = resume(output, app=synthesized_app)
    record = json.loads((output / ".autolabel" / "run.json").read_text())
    assert record["completed"] and record["resumes"] == 2
    assert [attempt["status"] for attempt in record["history"]] == ["ABORTED", "SUCCEEDED"]  # the kill left none
    assert report["status"] == "Completed"
    counters = report["counters"]
    assert counters["TotalLabeled"] == ITEMS and counters["Unlabeled"] == 0 and counters["MachineLabeled"] > 0
    labeled = read_jsonl(output / "manifests" / "output" / "output.manifest")
    inputs = read_jsonl(job["manifest"])
    assert [line["article-id"] for line in labeled] == [line["article-id"] for line in inputs]
    assert all("label" in line for line in labeled)
    # Every human answer counted once: one worker per item, one response per human-labeled item.
    responses = list((output / "annotations" / "worker-response").rglob("*.json"))
    items = {(path.parent.parent.name, path.parent.name) for path in responses}
    assert len(responses) == len(items) == counters["HumanLabeled"] == report["totals"]["humanAnswers"]
    # The first batch, answered before the stop, was not asked again.
    assert report["iterations"][0]["humanLabeled"] == first_batch
