"""The synthesized state machine, executed on the local engine with the real handlers."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import boto3
import pytest

from autolabel import executions
from autolabel.localcloud.cloud import LocalCloud
from autolabel.localcloud.gateway import LocalGateway
from autolabel.runner import RunError, RunRequest, run
from labeling.layout import JobLayout
from labeling.logic import batches, job_setup
from tests.conftest import read_jsonl
from tests.gateway_client import call

TEXT_CONTAINER = Path(__file__).resolve().parents[2] / "containers" / "text-classification"


@pytest.fixture
def small_job(bbc_news, tmp_path):
    manifest = tmp_path / "small.manifest"
    lines = bbc_news["manifest"].read_text(encoding="utf-8").splitlines()[:60]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def _request(small_job, bbc_news, tmp_path, **settings) -> RunRequest:
    return RunRequest(
        manifest=small_job, task_type="text-classification", labels=bbc_news["labels"],
        answers=bbc_news["answers"], output=tmp_path / "out", workdir=tmp_path / "work", job_name="small",
        settings={"MaxConcurrentTaskCount": 25, "CalibrationSampleSize": 10, **settings},
    )


def test_a_small_job_is_labeled_by_humans_only_in_batches(small_job, bbc_news, tmp_path, synthesized_app):
    report = run(_request(small_job, bbc_news, tmp_path), app=synthesized_app)
    out = read_jsonl(tmp_path / "out" / "manifests" / "output" / "output.manifest")
    inputs = read_jsonl(small_job)
    assert [line["article-id"] for line in out] == [line["article-id"] for line in inputs]
    assert all(line["label-metadata"]["human-annotated"] == "yes" for line in out)
    gold = {line["article-id"]: line["category"] for line in read_jsonl(bbc_news["answers"])}
    assert all(line["label"] == gold[line["article-id"]] for line in out)
    assert report["automatedLabeling"] is False
    assert report["counters"] == {"TotalLabeled": 60, "HumanLabeled": 60, "MachineLabeled": 0,
                                  "FailedNonRetryableError": 0, "Unlabeled": 0}
    # 60 items in batches of at most 25, every answer kept where Ground Truth keeps them
    responses = list((tmp_path / "out" / "annotations" / "worker-response").rglob("*.json"))
    assert len(responses) == 60
    assert sorted(p.name for p in (tmp_path / "out" / "annotations" / "consolidated-annotation").iterdir()) == [
        "iteration-0.jsonl", "iteration-1.jsonl", "iteration-2.jsonl"]
    # Ground Truth's intermediate manifest per batch: its items' source and label, in the output's format.
    annotations = tmp_path / "out" / "annotations"
    assert sorted(p.name for p in (annotations / "intermediate").iterdir()) == ["0", "1", "2"]
    intermediate = [read_jsonl(annotations / "intermediate" / str(k) / "annotations.manifest") for k in range(3)]
    assert [len(lines) for lines in intermediate] == [25, 25, 10]
    for k, lines in enumerate(intermediate):
        consolidated = read_jsonl(annotations / "consolidated-annotation" / f"iteration-{k}.jsonl")
        for line, record in zip(lines, consolidated, strict=True):
            output_line = out[record["id"]]  # ids are the lines' places in this manifest (no blank lines)
            assert line == {"source": output_line["source"], "label": output_line["label"],
                            "label-metadata": output_line["label-metadata"]}
            # One worker per item: Ground Truth writes the human label's confidence as 0.00.
            assert line["label-metadata"]["confidence"] == 0.0


def test_an_invalid_manifest_fails_through_record_failure_naming_the_line(bbc_news, tmp_path, synthesized_app):
    manifest = tmp_path / "broken.manifest"
    manifest.write_text('{"source": "fine"}\n{"source": \n{"source-ref": "s3://b/x.txt"}\n', encoding="utf-8")
    answers = tmp_path / "answers.manifest"
    known = [{"source": "fine"}, {"source-ref": "s3://b/x.txt"}]
    answers.write_text("".join(
        json.dumps({**item, "category": 0, "category-metadata": {"class-name": "business"}}) + "\n" for item in known))
    request = RunRequest(manifest=manifest, task_type="text-classification", labels=bbc_news["labels"],
                         answers=answers, output=tmp_path / "out", workdir=tmp_path / "work", job_name="broken")
    with pytest.raises(RunError) as failed:
        run(request, app=synthesized_app)
    failure = json.loads((tmp_path / "out" / "failure.json").read_text())
    assert failure["status"] == "Failed" and failure["error"] == "ManifestError"
    assert "line 2: is not valid JSON" in failure["cause"]
    assert "line 3: has no 'source' key (it has 'source-ref'" in failure["cause"]
    assert str(manifest) in str(failed.value) and "line 2: is not valid JSON" in str(failed.value)


def upload_job(cloud: LocalCloud, job: str, manifest_lines: list[str], labels: bytes, **config) -> JobLayout:
    s3 = boto3.client("s3")
    layout = JobLayout(f"jobs/{job}")
    s3.put_object(Bucket=cloud.bucket, Key=layout.job_config,
                  Body=json.dumps({"TaskType": "text-classification", **config}).encode())
    s3.put_object(Bucket=cloud.bucket, Key=layout.label_categories, Body=labels)
    s3.put_object(Bucket=cloud.bucket, Key=layout.input_manifest, Body="\n".join(manifest_lines).encode())
    return layout


def _wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def _api(gateway: LocalGateway, worker: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One request to the task API through the local gateway, signed in as `worker`."""
    return call(gateway.base_url, method, path, gateway.mint_token(worker), body)


def test_uploads_start_one_execution_per_job_and_answers_are_stored_as_they_arrive(
        bbc_news, tmp_path, synthesized_app):
    lines = bbc_news["manifest"].read_text(encoding="utf-8").splitlines()[:20]
    labels = bbc_news["labels"].read_bytes()
    with LocalCloud(synthesized_app, tmp_path) as cloud, LocalGateway(cloud) as gateway:
        layout = upload_job(cloud, "twice", lines, labels, MaxConcurrentTaskCount=12, CalibrationSampleSize=10)
        boto3.client("s3").put_object(Bucket=cloud.bucket, Key=layout.input_manifest, Body="\n".join(lines).encode())
        sfn = boto3.client("stepfunctions")
        jobs = _wait_for(lambda: _api(gateway, "w1", "GET", "/api/jobs")[1]["jobs"])
        assert [(j["job"], j["openTasks"], j["labels"][0]) for j in jobs] == [("twice", 12, "business")]
        executions = sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
        assert [e["name"] for e in executions] == ["twice"]  # the second upload started nothing

        status, claimed = _api(gateway, "w1", "POST", "/api/jobs/twice/claim")
        task = claimed["task"]
        assert status == 200 and task["item"]["text"] in {json.loads(line)["source"] for line in lines}
        path = f"/api/jobs/twice/tasks/{task['taskId']}/answer"
        status, unknown = _api(gateway, "w1", "POST", path, {"label": "cats"})
        assert status == 400 and "cats" in unknown["message"]
        status, answered = _api(gateway, "w1", "POST", path, {"label": "tech"})
        assert status == 200 and answered["accepted"] and not answered["duplicate"]
        # Stored as Ground Truth stores a worker response, the moment it is acknowledged.
        keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(
            Bucket=cloud.bucket, Prefix=layout.worker_response_prefix(0))["Contents"]]
        assert len(keys) == 1
        stored = json.loads(boto3.client("s3").get_object(Bucket=cloud.bucket, Key=keys[0])["Body"].read())
        assert stored["answers"][0]["answerContent"] == {"label": "tech"}
        assert stored["answers"][0]["workerId"] == "w1"

        status, late = _api(gateway, "w2", "POST", path, {"label": "sports"})  # w2 holds no lease on it
        assert status == 409 and late["reason"] in {"not-claimed", "task-done"}
        status, progress = _api(gateway, "w1", "GET", "/api/jobs/twice/progress")
        assert progress["mine"] == 1 and progress["batch"]["total"] == 12
        status = sfn.describe_execution(executionArn=executions[0]["executionArn"])["status"]
        assert status == "RUNNING"  # HumanLabeling waits until the batch is complete


# --- stopping conditions ---------------------------------------------------------------------------------------

@pytest.fixture
def execution_history(monkeypatch):
    """The finished execution's history events, captured before the local cloud goes away."""
    captured = {}
    wait = executions.wait

    def waiting(cloud, execution_arn, workforce, out):
        described = wait(cloud, execution_arn, workforce, out)
        captured["events"] = executions.history(boto3.client("stepfunctions"), execution_arn)
        return described

    monkeypatch.setattr(executions, "wait", waiting)
    return captured


def _entered(events, state):
    return [json.loads(e["stateEnteredEventDetails"]["input"]) for e in events
            if e.get("stateEnteredEventDetails", {}).get("name") == state]


def _assert_stopped_by_the_human_cap(out_dir, events, inputs, cap):
    out = read_jsonl(out_dir / "manifests" / "output" / "output.manifest")
    assert [line["source"] for line in out] == [line["source"] for line in inputs]  # every item, in input order
    human = [line for line in out if line.get("label-metadata", {}).get("human-annotated") == "yes"]
    unlabeled = [line for line in out if "label" not in line]
    assert len(human) <= cap and unlabeled
    for line in unlabeled:
        assert set(line) == {"source", "article-id", "label-metadata"}
        assert "MaxHumanLabeledObjectCount" in line["label-metadata"]["failure-reason"]
        assert line["label-metadata"]["job-name"].startswith("labeling-job/")
    (final,) = _entered(events, "WriteOutput")
    assert final["stopReason"] == "MaxHumanLabeledObjectCount"
    assert final["counts"]["humanLabeled"] == len(human) and final["counts"]["pool"] == len(unlabeled)
    assert len(_entered(events, "StoppingConditionMet")) == 1
    return human, unlabeled


def test_a_human_only_job_stops_at_its_human_label_cap(
        small_job, bbc_news, tmp_path, synthesized_app, execution_history):
    request = _request(small_job, bbc_news, tmp_path, StoppingConditions={"MaxHumanLabeledObjectCount": 40})
    report = run(request, app=synthesized_app)
    human, unlabeled = _assert_stopped_by_the_human_cap(
        tmp_path / "out", execution_history["events"], read_jsonl(small_job), cap=40)
    # Batches of 25 then 15 (cut to the cap); the last 20 items, in input order, are left.
    assert len(human) == 40 and len(unlabeled) == 20
    assert report["counters"] == {"TotalLabeled": 40, "HumanLabeled": 40, "MachineLabeled": 0,
                                  "FailedNonRetryableError": 0, "Unlabeled": 20}
    assert len(list((tmp_path / "out" / "annotations" / "worker-response").rglob("*.json"))) == 40


def write_headlines(bbc_news, folder: Path, *, count: int, every: int, relabel=None) -> dict:
    """`count` distinct BBC News headlines (every `every`-th article, so every topic), their manifest and
    answers, embedded once. relabel(answers) may change the answers' labels in place before they are
    written (tests/workflow/test_out_of_reach.py shuffles them)."""
    manifest, answers, seen = [], [], set()
    for line in read_jsonl(bbc_news["answers"])[::every]:
        source = line["source"].split("\n", 1)[0]
        if source not in seen and len(manifest) < count:
            seen.add(source)
            manifest.append({"source": source, "article-id": line["article-id"]})
            answers.append({**line, "source": source})
    if relabel:
        relabel(answers)
    paths = {"manifest": folder / "input.manifest", "answers": folder / "answers.manifest"}
    for name, records in (("manifest", manifest), ("answers", answers)):
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    # Embedded once here, into the cache the local cloud gives a job's SageMaker processes
    # (LocalCloud: <workdir>/embedding-cache), so that they need not each load the model.
    sys.path.insert(0, str(TEXT_CONTAINER))
    from text_classifier.cache import EmbeddingCache
    from text_classifier.embedding import MODEL_NAME, Embedder

    paths["embedding-cache"] = folder / "embedding-cache"
    Embedder(EmbeddingCache(str(paths["embedding-cache"]), MODEL_NAME)).encode([r["source"] for r in manifest])
    return {**paths, "labels": bbc_news["labels"], "answer-records": answers}


@pytest.fixture(scope="module")
def headlines(bbc_news, tmp_path_factory):
    """300 BBC News headlines: short texts, quick to embed."""
    return write_headlines(bbc_news, tmp_path_factory.mktemp("headlines"), count=300, every=7)


def run_headlines_job(headlines, folder: Path, app, *, job_name: str, settings: dict) -> dict:
    """An automated job on the headlines (Ground Truth's 1,250-item floor lowered to 200 for it), in
    `folder` (out/ and work/, the embeddings copied in); its report."""
    shutil.copytree(headlines["embedding-cache"], folder / "work" / "embedding-cache")
    floor = job_setup.AUTOMATED_LABELING_MIN_ITEMS
    job_setup.AUTOMATED_LABELING_MIN_ITEMS = 200
    try:
        return run(RunRequest(
            manifest=headlines["manifest"], task_type="text-classification", labels=headlines["labels"],
            answers=headlines["answers"], output=folder / "out", workdir=folder / "work", job_name=job_name,
            settings=settings,
        ), app=app)
    finally:
        job_setup.AUTOMATED_LABELING_MIN_ITEMS = floor


def test_an_automated_job_stops_when_its_human_budget_cannot_hold_a_calibration_sample(
        headlines, tmp_path, synthesized_app, execution_history, monkeypatch):
    # Ground Truth's 1,250-item floor, lowered so that a small job takes the automated path quickly.
    monkeypatch.setattr(job_setup, "AUTOMATED_LABELING_MIN_ITEMS", 200)
    # Batches: 80 + 60 calibration; then 80 (20 most ambiguous + 60 calibration); then 10 left of
    # the cap, less than a calibration sample: no more batches.
    request = RunRequest(
        manifest=headlines["manifest"], task_type="text-classification", labels=headlines["labels"],
        answers=headlines["answers"], output=tmp_path / "out", workdir=tmp_path / "work", job_name="capped",
        settings={"MaxConcurrentTaskCount": 80, "CalibrationSampleSize": 60,
                  "StoppingConditions": {"MaxHumanLabeledObjectCount": 230}},
    )
    shutil.copytree(headlines["embedding-cache"], tmp_path / "work" / "embedding-cache")
    report = run(request, app=synthesized_app)
    events = execution_history["events"]
    human, unlabeled = _assert_stopped_by_the_human_cap(
        tmp_path / "out", events, read_jsonl(headlines["manifest"]), cap=230)
    assert report["automatedLabeling"] is True
    # Both batches trained a model; the last one is the job's final model.
    final = report["finalActiveLearningModel"]
    assert final["iteration"] == 1 and final["modelName"].startswith("capped-")
    assert final["modelName"].endswith("-1-model") and final["modelArtifacts"].endswith("/output/model.tar.gz")
    assert report["labelingJobOutput"]["finalActiveLearningModelArn"] == final["modelArn"]
    batches = [state["batch"] for state in _entered(events, "HumanLabeling")]
    assert [(b["size"], b["calibrationSize"]) for b in batches] == [(140, 60), (80, 60)]
    counters = report["counters"]
    assert counters["HumanLabeled"] == len(human) == 220
    assert counters["Unlabeled"] == len(unlabeled) > 0
    assert counters["TotalLabeled"] + counters["Unlabeled"] == 300
    # The second batch was chosen from the model's pool lines: ambiguity and the container's sketch.
    remaining = read_jsonl(tmp_path / "out" / "activelearning" / "iteration-0" / "remaining.jsonl")
    assert all(set(line) == {"id", "source", "ambiguity", "sketch"} and len(line["sketch"]) == 32
               for line in remaining)


def test_auto_calibration_sizes_the_first_sample_to_the_pool_and_lets_humans_finish_a_small_rest(
        headlines, tmp_path, synthesized_app, execution_history, monkeypatch):
    monkeypatch.setattr(job_setup, "AUTOMATED_LABELING_MIN_ITEMS", 200)
    # 300 headlines: the first batch trains on 120 and samples the other 180, where pool^(2/3) is 32 (the
    # floor lowered to 20 here), fewer than the 59 all-correct items the default promise needs: 59 it is.
    # What the model leaves (at most 121, 20 of them for the ambiguous part) is under two samples, so
    # humans label all of it, with no calibration part and no second model.
    monkeypatch.setattr(batches, "AUTO_MIN", 20)
    request = RunRequest(
        manifest=headlines["manifest"], task_type="text-classification", labels=headlines["labels"],
        answers=headlines["answers"], output=tmp_path / "out", workdir=tmp_path / "work", job_name="auto",
        settings={"MaxConcurrentTaskCount": 120, "CalibrationSampleSize": "auto"},
    )
    shutil.copytree(headlines["embedding-cache"], tmp_path / "work" / "embedding-cache")
    report = run(request, app=synthesized_app)
    sent = [state["batch"] for state in _entered(execution_history["events"], "HumanLabeling")]
    assert (sent[0]["size"], sent[0]["calibrationSize"]) == (179, 59)
    assert len(sent) <= 2 and all(batch["calibrationSize"] == 0 for batch in sent[1:])
    counters = report["counters"]
    assert counters["HumanLabeled"] == sum(batch["size"] for batch in sent)
    assert counters["TotalLabeled"] == 300 and counters["Unlabeled"] == 0
