"""The job's outputs: the output manifest in Ground Truth's format, report.json, report.md and the plot.

WriteOutput writes them when the loop ends; RecordFailure and a stop write them too, from
what the job has labeled so far (`Ending`): every item labeled so far with its label, the
rest without one and with a `failure-reason`, and a report whose status says how it ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from labeling.dal import report_files, s3
from labeling.layout import ACCURACY_COVERAGE_PLOT, s3_uri
from labeling.logic.audit import replaced_by_audit
from labeling.logic.label_kinds import labels_of
from labeling.logic.labels import merged_by_id
from labeling.logic.manifest import InvalidLine
from labeling.logic.output import Counters, output_lines
from labeling.logic.report import IterationLabels, build_report
from labeling.logic.report_plot import accuracy_coverage_png
from labeling.logic.report_summary import markdown
from labeling.models.state import JobState
from labeling.observability import logger, tracer
from labeling.task_types import task_type


@dataclass(frozen=True)
class Ending:
    """A job that ends before its loop did: "Failed" (with failure.json's error and cause) or "Stopped"."""

    status: str
    reason: str  # why, in a sentence: the failure-reason of each item left without a label
    error: str | None = None
    cause: Any = None

    @classmethod
    def failed(cls, error: str | None, cause: Any) -> Ending:
        return cls("Failed", f"JobFailed: the labeling job failed ({error}) before this object was labeled; "
                             "resuming the job labels it (see failure.json)", error, cause)

    @classmethod
    def stopped(cls) -> Ending:
        return cls("Stopped", "JobStopped: the labeling job was stopped before this object was labeled; "
                              "resuming the job labels it")


def failure_file(*, job: str, error: str | None, cause: Any, iteration: int | None,
                 counts: dict[str, Any] | None) -> dict[str, Any]:
    """failure.json: why the job failed, where it was (RecordFailure's, and RecordStop's on a timeout)."""
    return {"job": job, "status": "Failed", "error": error, "cause": cause, "iteration": iteration,
            "counts": counts, "time": datetime.now(UTC).isoformat()}


@tracer.capture_method
def _write_plot(state: JobState) -> bool:
    """The accuracy-coverage plot; False when it could not be drawn.

    The labels are done by now: a report without its plot serves a user better than
    a failed job, so a plotting error is logged and the job goes on.
    """
    bucket, layout, settings = state.job.bucket, state.job.layout, state.job.settings
    details = {k: s3.read_json_if_present(bucket, layout.threshold_details(k)) for k in range(state.iteration + 1)}
    kind = labels_of(settings.TaskType)
    try:
        image = accuracy_coverage_png({k: d for k, d in details.items() if d is not None},
                                      kind.target(settings), settings.ConfidenceLevel, kind.measure)
    except Exception:
        logger.exception("the accuracy-coverage plot could not be drawn; the report goes without it")
        return False
    report_files.write_png(bucket, layout.accuracy_coverage_plot, image)
    return True


def write_outputs(state: JobState, ending: Ending | None = None) -> dict[str, Any]:
    """Write the outputs of the job as `state` has it; returns the summary WriteOutput hands on."""
    bucket, layout, settings = state.job.bucket, state.job.layout, state.job.settings
    task = task_type(settings.TaskType)
    iterations = range(state.iteration + 1)
    labels = [IterationLabels() for _ in iterations]
    label_files = [
        (k, key) for k in iterations
        for key in (layout.consolidated(k), layout.machine_labels(k)) if s3.exists(bucket, key)
    ]
    counters = Counters()
    # The audit's human labels replace the machine labels they checked (logic/audit.py), once its
    # summary is written: ConsolidateAudit writes the labels first, so a job that ended while it ran
    # comes out with the loop's labels and an audit not finished, never half of one.
    audit = s3.read_json_if_present(bucket, layout.audit_summary)
    audit_labels = list(s3.read_jsonl(bucket, layout.audit_labels)) if audit is not None else []
    audited = {record["id"] for record in audit_labels}

    def invalid_lines() -> Iterator[InvalidLine]:
        return map(InvalidLine.load, s3.read_jsonl_if_present(bucket, layout.invalid_lines))

    with s3.JsonlWriter(bucket, layout.output_manifest) as writer:
        for line in output_lines(
            s3.read_lines(bucket, layout.input_manifest),
            merged_by_id(*(replaced_by_audit(labels[k].counting(s3.read_jsonl(bucket, key)), audited)
                           for k, key in label_files), iter(audit_labels)), counters,
            invalid=invalid_lines(), attribute=settings.LabelAttributeName, label_names=state.job.label_names,
            task=task, job_name=state.job.name, stop_reason=state.stop_reason,
            unlabeled_reason=ending.reason if ending else None,
        ):
            writer.write(line)
    report = build_report(
        job_name=state.job.name, settings=settings, task=task, automated=state.job.automated, counters=counters,
        labels=labels, summaries=[s3.read_json_if_present(bucket, layout.iteration_summary(k)) for k in iterations],
        stop_reason=state.stop_reason, invalid_lines=invalid_lines(),
        status=ending.status if ending else None,
        failure={"error": ending.error, "cause": ending.cause} if ending and ending.status == "Failed" else None,
        # A job that ends early names its latest model too: the one it was transforming with, if any.
        label_names=state.job.label_names, final_model=state.latest_model(),
        output_manifest_uri=s3_uri(bucket, layout.output_manifest), audit=audit,
        out_of_reach=state.out_of_reach.model_dump(by_alias=True) if state.out_of_reach else None,
    )
    s3.write_json(bucket, layout.report, report)
    plotted = _write_plot(state)
    summary = markdown(report, plot=ACCURACY_COVERAGE_PLOT if plotted else None)
    report_files.write_markdown(bucket, layout.report_summary, summary)
    return {
        "job": state.job.name, "status": report["status"], "stopReason": report["stopReason"],
        "counters": report["counters"],
        "outputManifest": s3_uri(bucket, layout.output_manifest), "report": s3_uri(bucket, layout.report),
        "summary": s3_uri(bucket, layout.report_summary),
        "plot": s3_uri(bucket, layout.accuracy_coverage_plot) if plotted else None,
    }
