"""ApplyThreshold: accept the pool's machine labels at or above the threshold.

What the model does not label stays in the pool, with its ambiguity (scored by
job.json's ActiveLearningStrategy for classes; logic/label_kinds.py) and its
embedding sketch when the container gives one, for SelectAmbiguous.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.checkpointing import checkpointed
from labeling.dal import s3, shards
from labeling.layout import s3_uri, split_s3_uri
from labeling.logic.label_kinds import labels_of
from labeling.logic.output import creation_date
from labeling.models.state import JobState
from labeling.observability import AUTO_ANNOTATED, POOL_SIZE, job_metric, logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@checkpointed(after="ApplyThreshold")
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    step, k = state.sagemaker, state.iteration
    assert step is not None and state.threshold is not None, "set by ConsolidateAnnotations and ComputeThreshold"
    layout = state.job.layout
    bucket, pool_key = split_s3_uri(step.pool_data_uri)
    threshold = state.threshold.value
    strategy = state.job.settings.ActiveLearningStrategy
    kind = labels_of(state.job.settings.TaskType)
    created = creation_date()
    pairs = shards.read_with_predictions(step.pool_data_uri, step.pool_output_uri, what="pool")
    with s3.JsonlWriter(bucket, layout.machine_labels(k)) as accepted, \
            s3.JsonlWriter(bucket, layout.remaining(k)) as remaining:
        for item, prediction in pairs:
            if threshold is not None and prediction["confidence"] >= threshold:
                accepted.write({"id": item["id"], **kind.machine_label(prediction), "human": False,
                                "createdAt": created})
            else:
                # Rounded to keep pool lines small: 6 digits rank the items as well as 17 do.
                line = {**item, "ambiguity": round(kind.ambiguity(prediction, strategy), 6)}
                if prediction.get("sketch"):
                    line["sketch"] = prediction["sketch"]
                remaining.write(line)
    state.counts.machine_labeled += accepted.count
    state.counts.pool = remaining.count
    state.pool_uri = s3_uri(bucket, layout.remaining(k))
    job_metric(AUTO_ANNOTATED, accepted.count, job=state.job.name)
    job_metric(POOL_SIZE, remaining.count, job=state.job.name, stack_wide=False)
    s3.write_json(bucket, layout.iteration_summary(k), {
        "iteration": k,
        "humanBatch": state.batch.size if state.batch else 0,
        "calibrationSampleSize": state.threshold.calibration_size,
        # The job's initial model labeled this iteration: none was trained (report.json's modelTrained).
        "initialModel": step.initial_model,
        "threshold": state.threshold.model_dump(by_alias=True),
        "machineLabeled": accepted.count,
        "leftUnlabeled": remaining.count,
        "trainingSeconds": state.training.seconds if state.training else 0.0,
        "transformSeconds": sum(run.seconds for run in (state.validation_transform, state.pool_transform) if run),
    })
    logger.info("machine labels accepted", extra={"iteration": k, "accepted": accepted.count, "left": remaining.count})
    return state.dump()
