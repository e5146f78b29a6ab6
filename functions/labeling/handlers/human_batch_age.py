"""HumanBatchAge: every few minutes (an EventBridge schedule, infra/constructs/monitoring.py), the
age of each human batch that waits for workers, as the HumanBatchAgeSeconds metric.

No worker's request may be needed for a batch's age to show (a batch nobody touches is the one
to alarm on), so it is read from the human task table on a schedule; the function only reads
the table. Per job (LabelingJobName) for the dashboard, and stack-wide, whose Maximum is the
oldest batch's age, for the alarm. No batch waiting: no data point, which the alarm treats as fine.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.dal.tasks import HumanTaskStore
from labeling.logic import leases
from labeling.logic.batch_age import waiting_batches
from labeling.observability import HUMAN_BATCH_AGE, job_metric, logger, tracer
from labeling.settings import tasks_table


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict:
    store = HumanTaskStore(tasks_table())
    active = store.active_jobs()
    batches = {entry["job"]: store.batch(entry["job"], int(entry["iteration"])) for entry in active}
    waiting = waiting_batches(active, batches, leases.now_ms())
    for batch in waiting:
        job_metric(HUMAN_BATCH_AGE, batch.age_seconds, job=batch.job, unit=MetricUnit.Seconds)
    logger.info("human batches waiting", extra={"batches": len(waiting),
                                                "oldestSeconds": waiting[0].age_seconds if waiting else None})
    return {"batches": [{"job": b.job, "iteration": b.iteration, "ageSeconds": b.age_seconds,
                         "completed": b.completed, "total": b.total} for b in waiting]}
