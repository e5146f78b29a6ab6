"""The audit on the local cloud: once the loop has ended, humans check a random sample of the machine labels
(job.json's AuditSampleSize, labeling/logic/audit.py) through the same task API as every human batch."""

from __future__ import annotations

import shutil

from autolabel.runner import RunRequest, run
from labeling.logic import job_setup
from tests.conftest import read_jsonl
from tests.workflow.test_local_workflow import headlines  # noqa: F401


def test_an_audit_checks_machine_labels_and_its_human_labels_replace_them(
        headlines, tmp_path, monkeypatch, synthesized_app):  # noqa: F811
    # Ground Truth's 1,250-item floor lowered so that 300 headlines take the automated path quickly;
    # a low target and confidence level let the model label a good part of the pool.
    monkeypatch.setattr(job_setup, "AUTOMATED_LABELING_MIN_ITEMS", 200)
    shutil.copytree(headlines["embedding-cache"], tmp_path / "work" / "embedding-cache")
    out = tmp_path / "out"
    report = run(RunRequest(
        manifest=headlines["manifest"], task_type="text-classification", labels=headlines["labels"],
        answers=headlines["answers"], output=out, workdir=tmp_path / "work", job_name="audited",
        settings={"MaxConcurrentTaskCount": 80, "CalibrationSampleSize": 60, "TargetAccuracy": 0.6,
                  "ConfidenceLevel": 0.5, "AuditSampleSize": 50},
    ), app=synthesized_app)

    inputs = read_jsonl(headlines["manifest"])
    gold = {line["article-id"]: line["category"] for line in read_jsonl(headlines["answers"])}
    # The machine labels as the loop produced them (ApplyThreshold's files), by item id.
    machine = {record["id"]: record["label"] for path in (out / "inference").glob("iteration-*/accepted.jsonl")
               for record in read_jsonl(path)}
    assert report["totals"]["machineLabeled"] == len(machine) >= 50

    audit = report["audit"]
    assert audit["status"] == "Completed" and audit["sampleSize"] == 50 and audit["machineLabeled"] == len(machine)
    output = read_jsonl(out / "manifests" / "output" / "output.manifest")
    assert [line["article-id"] for line in output] == [line["article-id"] for line in inputs]
    audited = [i for i in machine if output[i]["label-metadata"]["human-annotated"] == "yes"]
    assert len(audited) == 50
    # The audited items are human labels now: the simulated workers' answers, the known ones.
    assert all(output[i]["label"] == gold[output[i]["article-id"]] for i in audited)
    unaudited = set(machine) - set(audited)
    assert all(output[i]["label-metadata"]["human-annotated"] == "no" and output[i]["label"] == machine[i]
               for i in unaudited)
    # What the audit says of the sampled machine labels is what the known answers say of them.
    agreed = sum(machine[i] == gold[inputs[i]["article-id"]] for i in audited)
    assert audit["agreed"] == agreed and audit["estimate"] == agreed / 50
    assert audit["lowerBound"] <= audit["estimate"] <= audit["upperBound"] and audit["confidenceLevel"] == 0.5

    counters = report["counters"]
    assert counters["HumanLabeled"] == report["totals"]["humanLabeled"] + 50
    assert counters["MachineLabeled"] == len(machine) - 50
    assert counters["HumanLabeled"] + counters["MachineLabeled"] + counters["Unlabeled"] == len(inputs)
    # One more human batch, in an iteration of its own: one answer per audited item, paid and counted.
    k = audit["iteration"]
    assert k > max(row["iteration"] for row in report["iterations"])
    batch = read_jsonl(out / "activelearning" / f"iteration-{k}" / "human-batch.jsonl")
    assert sorted(line["id"] for line in batch) == sorted(audited)
    responses = list((out / "annotations" / "worker-response" / f"iteration-{k}").rglob("*.json"))
    assert sorted(int(path.parent.name) for path in responses) == sorted(audited)
    assert audit["humanAnswers"] == 50 and audit["costUSD"] == 50 * report["settings"]["HumanPricePerAnswerUSD"]
    assert report["cost"]["humanAnswers"] == report["totals"]["humanAnswers"] + 50
    assert "Audit: humans checked 50 machine labels" in (out / "report.md").read_text(encoding="utf-8")
