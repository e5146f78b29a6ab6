"""Powertools Logger and Tracer shared by every handler, and the metrics they emit (EMF).

Service and namespace are set here, not only through the environment, so a
handler imported before its environment is set (tests, the local cloud) still
logs and emits metrics under the right names; infra reads the same constants
(the dashboard and the alarms name these metrics, infra/constructs/monitoring.py).

Job metrics (EMF, namespace Autolabel) are named as Ground Truth names its labeling-job
metrics where it has one (DatasetObjects*, Jobs*), with Ground Truth's dimension
`LabelingJobName`. Each is emitted in one of two ways:

- per job and stack-wide (`job_metric(..., stack_wide=True)`): once with the dimensions
  {service, LabelingJobName}, for the dashboard's per-job graphs, and once with {service}
  alone, so that an alarm or a graph of the whole stack reads one metric (an alarm cannot
  SEARCH, and a sum over jobs needs no knowledge of the jobs). Counts and the batch age.
- per job only: figures that mean nothing summed or averaged over jobs (an iteration's
  estimated accuracy, its lower bound, the threshold, the pool left).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE_NAME = "autolabel"
METRICS_NAMESPACE = "Autolabel"
SERVICE_DIMENSION = "service"  # Powertools' own dimension of every metric it emits
JOB_DIMENSION = "LabelingJobName"  # Ground Truth's dimension of its labeling-job metrics

# Ground Truth's names (AWS/SageMaker/LabelingJobs).
AUTO_ANNOTATED = "DatasetObjectsAutoAnnotated"  # machine labels accepted (ApplyThreshold)
HUMAN_ANNOTATED = "DatasetObjectsHumanAnnotated"  # human labels consolidated (ConsolidateAnnotations)
# Items the job did not label, counted once when it ends: invalid manifest lines, and the items left
# unlabeled by a stopping condition, a failure or a stop (FailedNonRetryableError + Unlabeled).
LABELING_FAILED = "DatasetObjectsLabelingFailed"
JOBS_SUCCEEDED, JOBS_FAILED, JOBS_STOPPED = "JobsSucceeded", "JobsFailed", "JobsStopped"
# Ours.
ITEMS_TO_LABEL = "DatasetObjectsToLabel"  # the manifest's valid items (ValidateJob)
HUMAN_BATCH_AGE = "HumanBatchAgeSeconds"  # how long a published human batch has waited (human_batch_age)
THRESHOLD = "MachineLabelThreshold"  # the iteration's confidence threshold (ComputeThreshold)
POOL_SIZE = "PoolSize"  # items neither labeled nor in a human batch after an iteration (ApplyThreshold)
# The human tasks (PublishHumanTasks, the task API), per job and stack-wide: a batch's tasks published,
# a task claimed by a worker, an answer counted, one given again (a retry: not counted twice), and one
# that came after its batch had closed (stack-wide only: a refusal names no job).
HUMAN_TASKS_PUBLISHED, HUMAN_TASKS_CLAIMED = "HumanTasksPublished", "HumanTasksClaimed"
HUMAN_ANSWERS, DUPLICATE_HUMAN_ANSWERS, LATE_HUMAN_ANSWERS = "HumanAnswers", "DuplicateHumanAnswers", "LateHumanAnswers"
# The measure the promise is about, estimated on the iteration's calibration items at or above the
# threshold, and its lower confidence bound (threshold.json's estimate and lowerBound), by the
# label kind's measure (labeling/logic/label_kinds.py): accuracy for classes, mean IoU for boxes.
ESTIMATES = {
    "accuracy": ("EstimatedAccuracy", "EstimatedAccuracyLowerBound"),
    "mean IoU": ("EstimatedMeanIoU", "EstimatedMeanIoULowerBound"),
}
# The audit (logic/audit.py, ConsolidateAudit), per job only: the machine labels humans checked, and
# the measure on them with its two-sided interval (audit.json's estimate, lowerBound, upperBound).
AUDITED_MACHINE_LABELS = "AuditedMachineLabels"
AUDIT_ESTIMATES = {
    "accuracy": ("AuditedAccuracy", "AuditedAccuracyLowerBound", "AuditedAccuracyUpperBound"),
    "mean IoU": ("AuditedMeanIoU", "AuditedMeanIoULowerBound", "AuditedMeanIoUUpperBound"),
}

# A job's end (report.json's status) -> the one Jobs* metric it counts in.
JOB_END_METRICS = {"Completed": JOBS_SUCCEEDED, "Failed": JOBS_FAILED, "Stopped": JOBS_STOPPED}

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)


def job_metric(name: str, value: float, *, job: str, unit: MetricUnit = MetricUnit.Count,
               stack_wide: bool = True) -> None:
    """Emit `name` for the job (dimension LabelingJobName) and, when stack_wide, for the stack.

    Each is an EMF line of its own, written at once (single_metric): it needs no
    @metrics.log_metrics on the handler, and a handler's shared dimensions do not leak into it.
    """
    # The service dimension is named here, not left to POWERTOOLS_SERVICE_NAME: an alarm
    # matches a metric's dimensions exactly, so they must not depend on the environment.
    dimension_sets = [{SERVICE_DIMENSION: SERVICE_NAME, JOB_DIMENSION: job}]
    if stack_wide:
        dimension_sets.append({SERVICE_DIMENSION: SERVICE_NAME})
    for dimensions in dimension_sets:
        with single_metric(name=name, unit=unit, value=value, namespace=METRICS_NAMESPACE,
                           default_dimensions=dimensions):
            pass


def stack_metric(name: str, value: float, *, unit: MetricUnit = MetricUnit.Count) -> None:
    """Emit `name` for the whole stack only (service dimension), at once, as job_metric does."""
    with single_metric(name=name, unit=unit, value=value, namespace=METRICS_NAMESPACE,
                       default_dimensions={SERVICE_DIMENSION: SERVICE_NAME}):
        pass


def job_ended(job: str, status: str, counters: dict[str, Any] | None) -> None:
    """The job's one Jobs* count, and the items it did not label (report.json's counters)."""
    job_metric(JOB_END_METRICS[status], 1, job=job)
    if counters is not None:
        job_metric(LABELING_FAILED, int(counters.get("FailedNonRetryableError", 0)) + int(counters.get("Unlabeled", 0)),
                   job=job)
