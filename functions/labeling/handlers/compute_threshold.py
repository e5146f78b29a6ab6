"""ComputeThreshold: the lowest confidence at which machine labels keep the promise.

See logic/threshold.py (classes) and logic/box_quality.py (boxes) for the method and its guarantee.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.checkpointing import checkpointed
from labeling.dal import s3, shards
from labeling.layout import split_s3_uri
from labeling.logic.label_kinds import labels_of
from labeling.models.state import JobState, Threshold
from labeling.observability import ESTIMATES, THRESHOLD, job_metric, logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@checkpointed(after="ComputeThreshold")
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    step, settings = state.sagemaker, state.job.settings
    assert step is not None, "set by ConsolidateAnnotations"
    # The transforms are done: this iteration's model is the job's latest (report.json's final model).
    state.final_model = state.latest_model()
    bucket, _ = split_s3_uri(step.validation_data_uri)
    pairs = shards.read_with_predictions(step.validation_data_uri, step.validation_output_uri, what="validation set")
    kind = labels_of(settings.TaskType)
    calibration = [(p["confidence"], kind.calibration_score(item["label"], p)) for item, p in pairs]
    # The kind scored `calibration` itself (a bool per item, or a box quality): mypy sees the union of kinds.
    choice = kind.choose_threshold(calibration, settings)  # type: ignore[arg-type]
    s3.write_json(bucket, state.job.layout.threshold_details(state.iteration), choice.details)
    state.threshold = Threshold(
        value=choice.value, measure=kind.measure, calibrationSize=choice.calibration_size,
        calibrationAccepted=choice.accepted, estimate=choice.estimate, lowerBound=choice.lower_bound,
    )
    _emit(state.job.name, state.threshold)
    logger.info("threshold chosen",
                extra={"iteration": state.iteration, "threshold": state.threshold.model_dump(by_alias=True)})
    return state.dump()


def _emit(job: str, threshold: Threshold) -> None:
    """The iteration's promise on the dashboard, one point per iteration and job (per job only:
    an accuracy averaged over jobs means nothing). No threshold or no estimate: nothing to draw."""
    estimate, lower_bound = ESTIMATES[threshold.measure]
    job_metric(lower_bound, threshold.lower_bound, job=job, unit=MetricUnit.NoUnit, stack_wide=False)
    if threshold.estimate is not None:
        job_metric(estimate, threshold.estimate, job=job, unit=MetricUnit.NoUnit, stack_wide=False)
    if threshold.value is not None:
        job_metric(THRESHOLD, threshold.value, job=job, unit=MetricUnit.NoUnit, stack_wide=False)
