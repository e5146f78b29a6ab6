"""ConsolidateAudit: the audit's human labels, how well the machine labels agreed with them, and the interval.

The answers are consolidated as ConsolidateAnnotations consolidates a batch's (logic/human_labels.py:
majority vote or box consolidation, NumberOfHumanWorkersPerDataObject workers, every answer needed).
Each human label goes to the audit's label file with the machine label it replaces and its score
(logic/audit.py), and the batch to its intermediate manifest as any batch's; audit.json, written
last, holds the figures report.json's `audit` shows. The output (labeling/job_outputs.py) then
writes these human labels in place of the machine labels they checked; the counts move with them.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.checkpointing import checkpointed
from labeling.dal import s3
from labeling.dal.worker_responses import batch_answers
from labeling.layout import split_s3_uri
from labeling.logic import audit
from labeling.logic.human_labels import human_label
from labeling.logic.label_kinds import labels_of
from labeling.logic.output import creation_date, labeled_line
from labeling.models.state import JobState
from labeling.observability import AUDIT_ESTIMATES, AUDITED_MACHINE_LABELS, job_metric, logger, tracer
from labeling.task_types import task_type


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@checkpointed(after="ConsolidateAudit")
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    bucket, layout, k, settings = state.job.bucket, state.job.layout, state.iteration, state.job.settings
    assert state.batch is not None and state.audit_iteration == k, "set by SelectAudit"
    task, kind = task_type(settings.TaskType), labels_of(settings.TaskType)
    created = creation_date()
    scores, answers = [], 0
    _, batch_key = split_s3_uri(state.batch.uri)
    with s3.JsonlWriter(bucket, layout.audit_labels) as writer, \
            s3.JsonlWriter(bucket, layout.intermediate_manifest(k)) as intermediate:
        for line, responses in batch_answers(bucket, layout, k, s3.read_jsonl(bucket, batch_key)):
            item = {key: value for key, value in line.items() if key != "machineLabel"}
            record = human_label(item, responses, k=k, needed=settings.NumberOfHumanWorkersPerDataObject,
                                 kind=kind, label_names=state.job.label_names, created=created)
            scores.append(audit.score(kind, line["machineLabel"], record))
            answers += record["workers"]
            writer.write({**record, "machineLabel": line["machineLabel"], "auditScore": scores[-1]})
            intermediate.write(labeled_line(
                {task.source_key: item[task.source_key]}, record, attribute=settings.LabelAttributeName,
                label_names=state.job.label_names, task=task, job_name=state.job.name,
            ))
    summary = audit.audit_summary(
        kind, scores, iteration=k, machine_labeled=state.counts.machine_labeled,
        confidence_level=settings.ConfidenceLevel, human_answers=answers,
        price_per_answer=settings.HumanPricePerAnswerUSD,
    )
    s3.write_json(bucket, layout.audit_summary, summary)
    state.counts.human_labeled += writer.count
    state.counts.machine_labeled -= writer.count
    state.counts.in_human_batch = 0
    job_metric(AUDITED_MACHINE_LABELS, writer.count, job=state.job.name, stack_wide=False)
    for name, value in zip(AUDIT_ESTIMATES[kind.measure],
                           (summary["estimate"], summary["lowerBound"], summary["upperBound"]), strict=True):
        if value is not None:
            job_metric(name, value, job=state.job.name, stack_wide=False)
    logger.info("audit consolidated", extra={key: summary[key] for key in (
        "iteration", "sampleSize", "machineLabeled", "agreed", "estimate", "lowerBound", "upperBound")})
    return state.dump()
