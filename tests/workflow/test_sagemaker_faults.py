"""SageMaker failing on the local cloud (autolabel/localcloud/sagemaker.py's Faults), through the real
state machine: what is retried completes as if nothing happened, the rest fails with a clear cause;
and a transform spread over several instances gives the same labels as one instance.

One automated iteration each: 300 headlines, a first batch of 140 (60 calibration) and a human cap
of 140, so the job trains once, labels the pool, and stops.
"""

from __future__ import annotations

import json
import shutil

import pytest
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

from autolabel.localcloud import sagemaker as local_sagemaker
from autolabel.runner import RunError, RunRequest, resume, run
from labeling.logic import job_setup, sagemaker_failure, sagemaker_step
from labeling.task_types import TASK_TYPES
from tests.conftest import read_jsonl
from tests.workflow.test_local_workflow import _entered, execution_history, headlines  # noqa: F401

TRAINING_INSTANCE = TASK_TYPES["text-classification"].training_instance


@pytest.fixture
def faults(monkeypatch):
    monkeypatch.setattr(job_setup, "AUTOMATED_LABELING_MIN_ITEMS", 200)
    # Wait states really wait on the local engine; the capacity retry's 10 minutes become 0.6 s.
    wait = WaitFunction._wait_interval
    monkeypatch.setattr(WaitFunction, "_wait_interval",
                        lambda self, env, wait_seconds: wait(self, env, wait_seconds / 1000))
    local_sagemaker.FAULTS.clear()
    yield local_sagemaker.FAULTS
    local_sagemaker.FAULTS.clear()


def _run(headlines, folder, app, **settings) -> dict:  # noqa: F811
    request = RunRequest(
        manifest=headlines["manifest"], task_type="text-classification", labels=headlines["labels"],
        answers=headlines["answers"], output=folder / "out", workdir=folder / "work", job_name="faults",
        settings={"MaxConcurrentTaskCount": 140, "CalibrationSampleSize": 60, "TargetAccuracy": 0.75,
                  "ConfidenceLevel": 0.5,
                  "StoppingConditions": {"MaxHumanLabeledObjectCount": 140}, **settings},
    )
    shutil.copytree(headlines["embedding-cache"], folder / "work" / "embedding-cache")
    return run(request, app=app)


def _labels(folder) -> dict:
    """What the job labeled and how: the output manifest's labels, the machine labels with their
    confidence, and the pool's predictions in the pool's order."""
    out = folder / "out"
    manifest = read_jsonl(out / "manifests" / "output" / "output.manifest")
    accepted = [{k: v for k, v in line.items() if k != "createdAt"}
                for line in read_jsonl(out / "inference" / "iteration-0" / "accepted.jsonl")]
    remaining = read_jsonl(out / "activelearning" / "iteration-0" / "remaining.jsonl")
    return {
        "labels": [(line["source"], line.get("label"), line.get("label-metadata", {}).get("confidence"))
                   for line in manifest],
        "accepted": accepted, "remaining": remaining,
    }


@pytest.fixture(scope="module")
def baseline(headlines, tmp_path_factory, synthesized_app):  # noqa: F811
    """The job without faults, on one transform instance."""
    folder = tmp_path_factory.mktemp("baseline")
    job_setup_floor = job_setup.AUTOMATED_LABELING_MIN_ITEMS
    job_setup.AUTOMATED_LABELING_MIN_ITEMS = 200
    try:
        report = _run(headlines, folder, synthesized_app)
    finally:
        job_setup.AUTOMATED_LABELING_MIN_ITEMS = job_setup_floor
    assert report["automatedLabeling"] is True and report["counters"]["MachineLabeled"] > 0
    return _labels(folder)


def test_throttled_create_calls_are_retried_and_the_job_ends_as_without_them(
        faults, headlines, baseline, tmp_path, execution_history, synthesized_app):  # noqa: F811
    # More than botocore would absorb: Step Functions' own Retry must take them.
    faults.fail_create("CreateTrainingJob", "ThrottlingException", "Rate exceeded", times=3)
    faults.fail_create("CreateTransformJob", "ThrottlingException", "Rate exceeded", times=2)
    faults.fail_create("CreateTransformJob", "InternalFailure", "An internal error occurred", times=1)
    _run(headlines, tmp_path, synthesized_app)
    assert _labels(tmp_path) == baseline
    failed = [e["taskFailedEventDetails"] for e in execution_history["events"] if "taskFailedEventDetails" in e]
    assert [f["error"] for f in failed] == ["SageMaker.AmazonSageMakerException"] * 6
    assert "Error Code: ThrottlingException" in failed[0]["cause"]


def test_a_training_job_without_capacity_runs_again_under_a_new_name(
        faults, headlines, baseline, tmp_path, execution_history, synthesized_app):  # noqa: F811
    faults.fail_job("training", local_sagemaker.CAPACITY_ERROR, times=2)
    _run(headlines, tmp_path, synthesized_app)
    assert _labels(tmp_path) == baseline
    events = execution_history["events"]
    names = [json.loads(e["taskScheduledEventDetails"]["parameters"])["TrainingJobName"] for e in events
             if e.get("taskScheduledEventDetails", {}).get("resource") == "createTrainingJob.sync"]
    assert len(names) == 3 and names[1] == names[0] + "-c1" and names[2] == names[0] + "-c2"
    assert len(_entered(events, "WaitToRetry-Train-text-classification")) == 2


def test_a_resource_limit_fails_the_job_naming_the_quota_and_how_to_raise_it(
        faults, headlines, tmp_path, execution_history, synthesized_app):  # noqa: F811
    message = local_sagemaker.resource_limit_message(TRAINING_INSTANCE, "training job usage")
    faults.fail_create("CreateTrainingJob", "ResourceLimitExceeded", message)
    with pytest.raises(RunError):
        _run(headlines, tmp_path, synthesized_app)
    failure = json.loads((tmp_path / "out" / "failure.json").read_text())
    assert failure["error"] == "SageMaker.ResourceLimitExceededException"  # not retried: one try
    assert f"'{TRAINING_INSTANCE} for training job usage'" in failure["cause"]
    assert "Service Quotas" in failure["cause"]
    (failed,) = [e["taskFailedEventDetails"] for e in execution_history["events"] if "taskFailedEventDetails" in e]
    (state,) = _entered(execution_history["events"], "RecordFailure")
    described = sagemaker_failure.describe(state["error"], state)
    assert f"'{TRAINING_INSTANCE} for training job usage' is 0 instances" in described
    assert "faults-" in described and "-train" in described  # the training job it refused
    assert "request-service-quota-increase --service-code sagemaker" in described


def test_a_container_error_fails_at_once_showing_the_containers_last_log_lines(
        faults, headlines, tmp_path, execution_history, synthesized_app):  # noqa: F811
    lines = [f"epoch {n}: loss 0.{n}" for n in range(20)] + ["Traceback (most recent call last):",
                                                             "ValueError: label_count must be at least 2"]
    faults.break_container("training", lines, code=3)
    with pytest.raises(RunError):
        _run(headlines, tmp_path, synthesized_app)
    failure = json.loads((tmp_path / "out" / "failure.json").read_text())
    assert failure["error"] == "States.TaskFailed"
    assert "ValueError: label_count must be at least 2" in failure["cause"]
    assert "epoch 19: loss 0.19" in failure["cause"] and "epoch 0:" not in failure["cause"]  # the last lines
    events = execution_history["events"]
    assert not _entered(events, "WaitToRetry-Train-text-classification")  # never run twice
    (state,) = _entered(events, "RecordFailure")
    described = sagemaker_failure.describe(state["error"], state)
    assert "model container of the training job faults-" in described
    assert "ValueError: label_count must be at least 2" in described and "exit code: 3" in described
    assert "log group /aws/sagemaker/TrainingJobs" in described


def test_a_job_failed_in_training_keeps_its_labels_and_resumes_to_the_output_without_the_fault(
        faults, headlines, baseline, tmp_path, synthesized_app):  # noqa: F811
    faults.break_container("training", ["RuntimeError: CUDA out of memory"], code=1)
    with pytest.raises(RunError) as failed:
        _run(headlines, tmp_path, synthesized_app)
    out = tmp_path / "out"
    # The run was given its --workdir: that is where its state is, and what resume is given.
    assert f"continue the job with: autolabel resume {tmp_path / 'work'}" in str(failed.value)
    # What the job had when it failed: the human batch's labels, the rest unlabeled with the reason.
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "Failed" and report["failure"]["error"] == "States.TaskFailed"
    assert "CUDA out of memory" in report["failure"]["cause"]
    assert report["counters"]["HumanLabeled"] == 140 and report["counters"]["Unlabeled"] == 160
    partial = read_jsonl(out / "manifests" / "output" / "output.manifest")
    unlabeled = [line for line in partial if "label" not in line]
    assert len(partial) == 300 and len(unlabeled) == 160
    assert all(line["label-metadata"]["failure-reason"].startswith("JobFailed: the labeling job failed "
                                                                   "(States.TaskFailed)") for line in unlabeled)
    assert "The job failed" in (out / "report.md").read_text()
    # The container mended (the fault was once), the job resumes at training, under new job names.
    report = resume(tmp_path / "work", app=synthesized_app)
    # As the run without the fault ends: at its human cap (a stopping condition), not failed.
    assert (report["status"], report["stopReason"]) == ("Stopped", "MaxHumanLabeledObjectCount")
    assert "failure" not in report and not (out / "failure.json").exists()
    assert _labels(tmp_path) == baseline
    assert report["totals"]["humanAnswers"] == 140  # the batch answered before the failure, not asked again


def test_a_transform_over_three_instances_labels_as_one_instance_does(
        faults, headlines, baseline, tmp_path, monkeypatch, synthesized_app):  # noqa: F811
    # 160 pool items at 50 per instance: 3 instances (the cap), the 60 validation items on 2.
    monkeypatch.setattr(sagemaker_step, "TRANSFORM_ITEMS_PER_INSTANCE", 50)
    _run(headlines, tmp_path, synthesized_app, MaxTransformInstanceCount=3)
    assert _labels(tmp_path) == baseline
    pool = tmp_path / "out" / "activelearning" / "iteration-0" / "pool"
    assert sorted(p.name for p in pool.iterdir()) == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    predictions = tmp_path / "out" / "inference" / "iteration-0" / "pool"
    assert sorted(p.name for p in predictions.iterdir()) == [
        "part-00000.jsonl.out", "part-00001.jsonl.out", "part-00002.jsonl.out"]
    logs = tmp_path / "work" / "logs"
    assert len(list(logs.glob("faults-*-pool-algo-*.log"))) == 3  # three serve processes
    assert len(list(logs.glob("faults-*-val-algo-*.log"))) == 2
