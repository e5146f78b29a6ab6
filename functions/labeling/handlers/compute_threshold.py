"""ComputeThreshold: the lowest confidence at which machine labels keep the promise.

See logic/threshold.py for the method and its guarantee.
"""

from __future__ import annotations

from dataclasses import asdict

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.dal import s3
from labeling.layout import split_s3_uri
from labeling.logic.predictions import paired_with_predictions, prediction_key
from labeling.logic.threshold import accuracy_curve, choose_threshold
from labeling.models.state import JobState, Threshold
from labeling.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    step, settings = state.sagemaker, state.job.settings
    bucket, validation_key = split_s3_uri(step.validation_data_uri)
    predictions_key = prediction_key(step.validation_output_uri, validation_key)
    pairs = paired_with_predictions(
        s3.read_jsonl(bucket, validation_key), s3.read_jsonl(bucket, predictions_key), what="validation set"
    )
    calibration = [(p["confidence"], p["label"] == item["label"]) for item, p in pairs]
    decision = choose_threshold(calibration, settings.TargetAccuracy, settings.ConfidenceLevel)
    layout = state.job.layout
    curve = [asdict(point) for point in accuracy_curve(calibration, settings.ConfidenceLevel)]
    s3.write_json(bucket, layout.threshold_details(state.iteration), {**decision.as_dict(), "curve": curve})
    state.threshold = Threshold(
        value=decision.threshold, calibrationSize=decision.calibration_size,
        calibrationAccepted=decision.accepted, estimatedAccuracy=decision.estimated_accuracy,
        lowerBound=decision.lower_bound,
    )
    logger.info("threshold chosen",
                extra={"iteration": state.iteration, "threshold": state.threshold.model_dump(by_alias=True)})
    return state.dump()
