"""WriteOutput: the output manifest in Ground Truth's format, and report.json."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.dal import s3
from labeling.layout import s3_uri
from labeling.logic.labels import merged_by_id
from labeling.logic.manifest import manifest_records
from labeling.logic.output import Counters, output_lines
from labeling.logic.report import build_report
from labeling.models.state import JobState
from labeling.observability import logger, metrics, tracer
from labeling.task_types import task_type


class _AnswerCounter:
    """Counts human answers while the label stream passes through."""

    def __init__(self):
        self.answers = 0

    def __call__(self, records):
        for record in records:
            self.answers += record.get("workers", 0)
            yield record


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    bucket, layout, settings = state.job.bucket, state.job.layout, state.job.settings
    task = task_type(settings.TaskType)
    label_files = [
        key for k in range(state.iteration + 1)
        for key in (layout.consolidated(k), layout.machine_labels(k)) if s3.exists(bucket, key)
    ]
    count_answers = _AnswerCounter()
    labels = merged_by_id(*(count_answers(s3.read_jsonl(bucket, key)) for key in label_files))
    counters = Counters()
    with s3.JsonlWriter(bucket, layout.output_manifest) as writer:
        for line in output_lines(
            manifest_records(s3.read_lines(bucket, layout.input_manifest)), labels, counters,
            attribute=settings.LabelAttributeName, label_names=state.job.label_names, task=task,
            job_name=state.job.name,
        ):
            writer.write(line)
    summaries = (s3.read_json_if_present(bucket, layout.iteration_summary(k)) for k in range(state.iteration + 1))
    iterations = [summary for summary in summaries if summary is not None]
    report = build_report(
        job_name=state.job.name, settings=settings, task=task, automated=state.job.automated,
        counters=counters, iterations=iterations, human_answers=count_answers.answers,
    )
    s3.write_json(bucket, layout.report, report)
    metrics.add_metric(name="JobsCompleted", unit=MetricUnit.Count, value=1)
    logger.info("job complete", extra={"job": state.job.name, "counters": report["counters"]})
    return {
        "job": state.job.name, "status": "Completed", "counters": report["counters"],
        "outputManifest": s3_uri(bucket, layout.output_manifest), "report": s3_uri(bucket, layout.report),
    }
