"""WriteOutput: the output manifest in Ground Truth's format, report.json, report.md and the plot."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.dal import report_files, s3
from labeling.layout import ACCURACY_COVERAGE_PLOT, s3_uri
from labeling.logic.label_kinds import labels_of
from labeling.logic.labels import merged_by_id
from labeling.logic.manifest import InvalidLine
from labeling.logic.output import Counters, output_lines
from labeling.logic.report import IterationLabels, build_report
from labeling.logic.report_plot import accuracy_coverage_png
from labeling.logic.report_summary import markdown
from labeling.models.state import JobState
from labeling.observability import logger, metrics, tracer
from labeling.task_types import task_type


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


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    bucket, layout, settings = state.job.bucket, state.job.layout, state.job.settings
    task = task_type(settings.TaskType)
    iterations = range(state.iteration + 1)
    labels = [IterationLabels() for _ in iterations]
    label_files = [
        (k, key) for k in iterations
        for key in (layout.consolidated(k), layout.machine_labels(k)) if s3.exists(bucket, key)
    ]
    counters = Counters()

    def invalid_lines():
        return map(InvalidLine.load, s3.read_jsonl_if_present(bucket, layout.invalid_lines))

    with s3.JsonlWriter(bucket, layout.output_manifest) as writer:
        for line in output_lines(
            s3.read_lines(bucket, layout.input_manifest),
            merged_by_id(*(labels[k].counting(s3.read_jsonl(bucket, key)) for k, key in label_files)), counters,
            invalid=invalid_lines(), attribute=settings.LabelAttributeName, label_names=state.job.label_names,
            task=task, job_name=state.job.name, stop_reason=state.stop_reason,
        ):
            writer.write(line)
    report = build_report(
        job_name=state.job.name, settings=settings, task=task, automated=state.job.automated, counters=counters,
        labels=labels, summaries=[s3.read_json_if_present(bucket, layout.iteration_summary(k)) for k in iterations],
        stop_reason=state.stop_reason, invalid_lines=invalid_lines(),
    )
    s3.write_json(bucket, layout.report, report)
    plotted = _write_plot(state)
    summary = markdown(report, plot=ACCURACY_COVERAGE_PLOT if plotted else None)
    report_files.write_markdown(bucket, layout.report_summary, summary)
    metrics.add_metric(name=f"Jobs{report['status']}", unit=MetricUnit.Count, value=1)
    logger.info("job finished", extra={"job": state.job.name, "status": report["status"],
                                       "stopReason": report["stopReason"], "counters": report["counters"]})
    return {
        "job": state.job.name, "status": report["status"], "stopReason": report["stopReason"],
        "counters": report["counters"],
        "outputManifest": s3_uri(bucket, layout.output_manifest), "report": s3_uri(bucket, layout.report),
        "summary": s3_uri(bucket, layout.report_summary),
        "plot": s3_uri(bucket, layout.accuracy_coverage_plot) if plotted else None,
    }
