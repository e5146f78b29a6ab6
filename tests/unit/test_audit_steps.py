"""SelectAudit and ConsolidateAudit on moto, with the outputs a job writes before, during and after its audit."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from labeling.dal import checkpoints, s3
from labeling.handlers import consolidate_audit, record_stop, select_audit, write_output
from labeling.layout import JobLayout
from labeling.logic import worker_answers
from labeling.models.state import JobState
from tests.unit.lambda_context import Context

BUCKET = "jobs-bucket"
LAYOUT = JobLayout("jobs/news")
NAMES = ["business", "sport", "tech"]
TEXTS = ["Shares fell.", "United won.", "A new phone.", "Rates rose.", "The cup final.", "Chips got faster."]
# Item 0 was labeled by humans in iteration 0, items 1-5 by the model in iteration 0 (item 3's label is wrong).
MACHINE = {1: 1, 2: 2, 3: 1, 4: 1, 5: 2}
TRUTH = [0, 1, 2, 0, 1, 2]


def _write_jsonl(key: str, records: list[dict]) -> None:
    s3.write_bytes(BUCKET, key, b"".join(json.dumps(r).encode() + b"\n" for r in records), "application/jsonl")


@pytest.fixture
def job(fake_aws_credentials, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    s3._client.cache_clear()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        _write_jsonl(LAYOUT.input_manifest, [{"source": text} for text in TEXTS])
        _write_jsonl(LAYOUT.consolidated(0), [{"id": 0, "source": TEXTS[0], "label": 0, "confidence": 1.0,
                                                "human": True, "workers": 1, "createdAt": "2026-12-01T00:00:00.0"}])
        _write_jsonl(LAYOUT.machine_labels(0), [{"id": i, "label": label, "confidence": 0.9, "human": False,
                                                 "createdAt": "2026-12-01T00:00:01.0"} for i, label in MACHINE.items()])
        s3.write_json(BUCKET, LAYOUT.iteration_summary(0), {  # as ApplyThreshold writes it
            "iteration": 0, "humanBatch": 1, "calibrationSampleSize": 1, "initialModel": False,
            "threshold": {"value": 0.8, "measure": "accuracy", "calibrationSize": 1, "calibrationAccepted": 1,
                          "estimate": 1.0, "lowerBound": 0.5},
            "machineLabeled": 5, "leftUnlabeled": 0, "trainingSeconds": 1.0, "transformSeconds": 1.0})
        state = JobState.model_validate({
            "job": {"name": "news", "bucket": BUCKET, "prefix": LAYOUT.prefix, "outputPrefix": LAYOUT.output,
                    "automated": True, "labelNames": NAMES,
                    "settings": {"TaskType": "text-classification", "AuditSampleSize": 4, "Seed": 3}},
            "runId": "r1", "iteration": 1, "counts": {"total": 6, "humanLabeled": 1, "machineLabeled": 5},
        })
        yield state
    s3._client.cache_clear()


def _answer(k: int, item_id: int, label: int) -> None:
    """A worker's counted answer, as the task API publishes it (labeling.dal.worker_responses)."""
    record = worker_answers.response_record(answer_content={"label": NAMES[label]}, worker_id="w1",
                                            worker_metadata={}, accepted_at=1_000, submitted_at=2_000)
    s3.write_json(BUCKET, LAYOUT.worker_response(k, item_id, worker_answers.file_name(2_000, "w1")), record)


def _output() -> list[dict]:
    return list(s3.read_jsonl(BUCKET, LAYOUT.output_manifest))


def test_the_audits_sample_goes_to_humans_and_their_labels_replace_the_machine_labels(job):
    selected = select_audit.handler(job.dump(), Context())
    k = selected["iteration"]
    assert k == selected["auditIteration"] == 2 and selected["batch"]["size"] == 4
    batch = list(s3.read_jsonl(BUCKET, LAYOUT.human_batch(k)))
    # Machine-labeled items only, with their data objects for the workers and the label they check.
    assert {line["id"] for line in batch} <= set(MACHINE) and len(batch) == 4
    assert all(line["source"] == TEXTS[line["id"]] and line["machineLabel"]["label"] == MACHINE[line["id"]]
               for line in batch)
    assert checkpoints.read(BUCKET, LAYOUT)["next"] == "AuditLabeling"

    for line in batch:
        _answer(k, line["id"], TRUTH[line["id"]])
    done = consolidate_audit.handler(selected, Context())
    assert done["counts"] == {**selected["counts"], "humanLabeled": 5, "machineLabeled": 1}
    assert checkpoints.read(BUCKET, LAYOUT)["next"] == "WriteOutput"
    write_output.handler(done, Context())

    audited = {line["id"] for line in batch}
    output = _output()
    assert [line["label"] for line in output] == [TRUTH[i] if i in audited or i == 0 else MACHINE[i]
                                                  for i in range(6)]
    assert [line["label-metadata"]["human-annotated"] for line in output] == [
        "yes" if i in audited or i == 0 else "no" for i in range(6)]
    report = s3.read_json(BUCKET, LAYOUT.report)
    assert report["counters"]["HumanLabeled"] == 5 and report["counters"]["MachineLabeled"] == 1
    agreed = sum(MACHINE[i] == TRUTH[i] for i in audited)
    assert (report["audit"]["sampleSize"], report["audit"]["agreed"]) == (4, agreed)
    assert report["totals"]["machineLabeled"] == 5  # the loop's labels, as it produced them


def test_a_job_stopped_during_its_audit_keeps_the_loops_labels_and_the_answers_given(job):
    selected = select_audit.handler(job.dump(), Context())
    first = next(s3.read_jsonl(BUCKET, LAYOUT.human_batch(selected["iteration"])))
    _answer(selected["iteration"], first["id"], TRUTH[first["id"]])  # one answer of four, then the stop
    record_stop.handler({"detail": {"status": "ABORTED", "input": json.dumps(
        {"bucket": BUCKET, "key": LAYOUT.input_manifest})}}, Context())
    report = s3.read_json(BUCKET, LAYOUT.report)
    assert report["status"] == "Stopped" and report["audit"]["status"] == "NotFinished"
    assert report["counters"]["MachineLabeled"] == 5 and report["counters"]["HumanLabeled"] == 1
    assert [line["label"] for line in _output()] == [0, *MACHINE.values()]
    # The paid answer is where the resumed audit will count it.
    assert len(list(s3.list_keys(BUCKET, LAYOUT.worker_response_prefix(selected["iteration"])))) == 1


def test_a_job_without_machine_labels_writes_that_there_were_none_to_audit(job):
    # Fewer than 1,250 items: humans labeled every one.
    human_only = job.model_copy(update={"counts": job.counts.model_copy(update={"machine_labeled": 0,
                                                                                "human_labeled": 6})})
    _write_jsonl(LAYOUT.consolidated(0), [{"id": i, "source": text, "label": TRUTH[i], "confidence": 1.0, "human": True,
                                           "workers": 1, "createdAt": "t"} for i, text in enumerate(TEXTS)])
    s3.write_bytes(BUCKET, LAYOUT.machine_labels(0), b"", "application/jsonl")
    write_output.handler(human_only.dump(), Context())
    assert s3.read_json(BUCKET, LAYOUT.report)["audit"]["reason"] == "no machine labels to audit"
