"""SelectAudit: once the loop has ended, the audit's sample of the machine labels, as one more human batch.

A uniform random sample without replacement of min(AuditSampleSize, machine labels) of the job's
machine labels (logic/audit.py), in an iteration of its own after the loop's last: PublishHumanTasks
publishes it like any batch (the task API keys tasks and answers by iteration, so the audit's answers
are stored and counted apart from every other batch's). Each batch line keeps the machine label it
checks, for ConsolidateAudit to score. The counts do not move: the audited items stay machine-labeled
until their human labels are consolidated.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.checkpointing import checkpointed
from labeling.dal import s3
from labeling.dal.job_items import job_items
from labeling.layout import s3_uri
from labeling.logic import audit
from labeling.models.state import HumanBatch, JobState
from labeling.observability import logger, tracer
from labeling.task_types import task_type


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@checkpointed(after="SelectAudit")
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    settings, bucket, layout = state.job.settings, state.job.bucket, state.job.layout
    loop_iterations = range(state.iteration + 1)
    state.iteration += 1
    state.audit_iteration = k = state.iteration

    def machine_labels() -> Iterator[dict[str, Any]]:
        for j in loop_iterations:
            yield from s3.read_jsonl_if_present(bucket, layout.machine_labels(j))

    checked = {record["id"]: record for record in audit.audit_sample(
        machine_labels(), settings.AuditSampleSize, audit.audit_rng(settings.Seed))}
    source_key = task_type(settings.TaskType).source_key
    # A machine label holds no data object: the workers' tasks need the item's, from the manifest.
    with s3.JsonlWriter(bucket, layout.human_batch(k)) as writer:
        for item in job_items(bucket, layout, source_key):
            if item["id"] in checked:
                writer.write({**item, "role": audit.AUDIT, "machineLabel": audit.checked_label(checked[item["id"]])})
    if writer.count != len(checked):
        raise RuntimeError(f"{len(checked) - writer.count} audited machine labels match no item of the manifest")
    state.batch = HumanBatch(uri=s3_uri(bucket, layout.human_batch(k)), size=writer.count, calibrationSize=0)
    state.train_model, state.sagemaker, state.threshold = False, None, None
    logger.info("audit sample selected", extra={"iteration": k, "sample": writer.count,
                                                "machineLabeled": state.counts.machine_labeled})
    return state.dump()
