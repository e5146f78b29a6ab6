"""The job metrics a real local run emits (EMF, labeling/observability.py), read back from the
functions' log as CloudWatch would extract them: Ground Truth's names with the job's
LabelingJobName dimension, each also stack-wide where the alarms and the dashboard sum them."""

from __future__ import annotations

import pytest

from labeling import observability as obs
from tests.emf import emf_points, per_job, stack_wide
from tests.workflow.test_local_workflow import headlines, run_headlines_job  # noqa: F401

JOB = "metrics"


def _points(workdir):
    return emf_points((workdir / "logs" / "lambda.log").read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="module")
def automated_job(headlines, tmp_path_factory, synthesized_app):  # noqa: F811
    """300 headlines, one automated iteration: a first batch of 140 (60 calibration), a model, machine
    labels, then the human cap (MaxHumanLabeledObjectCount 140) stops the job with the rest unlabeled."""
    folder = tmp_path_factory.mktemp("metrics")
    report = run_headlines_job(headlines, folder, synthesized_app, job_name=JOB, settings={
        "MaxConcurrentTaskCount": 140, "CalibrationSampleSize": 60, "TargetAccuracy": 0.75,
        "ConfidenceLevel": 0.5, "StoppingConditions": {"MaxHumanLabeledObjectCount": 140}})
    return report, _points(folder / "work")


def test_label_counts_per_job_and_stack_wide_add_up_to_the_reports_counters(automated_job):
    report, points = automated_job
    counters = report["counters"]
    assert report["automatedLabeling"] and counters["MachineLabeled"] > 0 and counters["Unlabeled"] > 0
    assert per_job(points, obs.ITEMS_TO_LABEL, JOB) == [300]
    for name, counter in ((obs.HUMAN_ANNOTATED, "HumanLabeled"), (obs.AUTO_ANNOTATED, "MachineLabeled")):
        assert sum(per_job(points, name, JOB)) == counters[counter], name
        assert sum(stack_wide(points, name)) == counters[counter], name
    # The items the job did not label are counted once, when it ends.
    failed = counters["Unlabeled"] + counters["FailedNonRetryableError"]
    assert per_job(points, obs.LABELING_FAILED, JOB) == stack_wide(points, obs.LABELING_FAILED) == [failed]


def test_a_job_ends_in_exactly_one_jobs_metric_named_as_ground_truth_names_it(automated_job):
    report, points = automated_job
    assert report["status"] == "Stopped"  # the stopping condition: JobsStopped
    ends = [(p.name, p.value) for p in points if p.name in set(obs.JOB_END_METRICS.values()) and p.job == JOB]
    assert ends == [(obs.JOBS_STOPPED, 1)]
    assert stack_wide(points, obs.JOBS_STOPPED) == [1]
    assert not stack_wide(points, obs.JOBS_SUCCEEDED) and not stack_wide(points, obs.JOBS_FAILED)


def test_each_iterations_promise_threshold_and_pool_are_emitted_for_the_job_only(automated_job):
    report, points = automated_job
    (row,) = [row for row in report["iterations"] if row["modelTrained"]]
    estimate, lower_bound = obs.ESTIMATES["accuracy"]
    threshold = row["threshold"]
    assert per_job(points, lower_bound, JOB) == [pytest.approx(threshold["lowerBound"])]
    assert per_job(points, estimate, JOB) == [pytest.approx(threshold["estimate"])]
    assert per_job(points, obs.THRESHOLD, JOB) == [pytest.approx(threshold["value"])]
    assert per_job(points, obs.POOL_SIZE, JOB) == [row["leftUnlabeled"]]
    # An accuracy averaged over jobs means nothing: no stack-wide series of these.
    assert not any(stack_wide(points, name) for name in (estimate, lower_bound, obs.THRESHOLD, obs.POOL_SIZE))
    dimensions = {tuple(sorted(p.dimensions)) for p in points if p.job == JOB}
    assert dimensions == {("LabelingJobName", "service")}
    assert {p.dimensions["service"] for p in points} == {obs.SERVICE_NAME}
