"""ComputeThreshold: the lowest confidence at which machine labels keep the promise.

See logic/threshold.py (classes) and logic/box_quality.py (boxes) for the method and its guarantee,
and logic/promise.py for the job-level promises (job.json Promise), which also read the pool's confidences.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.checkpointing import checkpointed
from labeling.dal import s3, shards
from labeling.layout import split_s3_uri
from labeling.logic import batches, iteration_threshold, out_of_reach
from labeling.logic.label_kinds import labels_of
from labeling.models.state import JobState, OutOfReach, Threshold
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
    order_seed = batches.calibration_order_seed(settings.Seed, state.iteration)
    decision = iteration_threshold.decide(
        kind, calibration, settings, state.promise_ledger, human_labeled=state.counts.human_labeled,
        pool_confidences=lambda: (prediction["confidence"] for _, prediction in shards.read_with_predictions(
            step.pool_data_uri, step.pool_output_uri, what="pool")), order_seed=order_seed,
    )
    s3.write_json(bucket, state.job.layout.threshold_details(state.iteration), decision.details)
    state.threshold, state.promise_ledger = decision.threshold, decision.ledger
    # Is the target out of this model's reach? N such iterations in a row stop training (logic/out_of_reach.py).
    state.out_of_reach_streak, declared = out_of_reach.after_iteration(
        calibration, state.out_of_reach_streak, measure=kind.measure, target=kind.target(settings), settings=settings,
        order_seed=order_seed)
    if declared and state.out_of_reach is None:
        state.out_of_reach = OutOfReach.model_validate({"iteration": state.iteration, **declared})
        logger.warning(out_of_reach.describe(declared), extra={"iteration": state.iteration, "outOfReach": declared})
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
