"""Checking what a user uploaded and deciding how the job runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from labeling.logic.manifest import InvalidLine, ManifestCheck, ObjectCheck, check_manifest
from labeling.logic.threshold import min_trials_to_pass
from labeling.models.job import AUTOMATED_LABELING_MIN_ITEMS, JobConfig, LabelCategories
from labeling.task_types import task_type


class JobSetupError(ValueError):
    """What the user uploaded cannot run; the message names the file and the fix."""


def _explain(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in error.errors()
    )


def parse_job_config(raw: Any, file_name: str) -> JobConfig:
    try:
        return JobConfig.model_validate(raw)
    except ValidationError as error:
        raise JobSetupError(f"{file_name} is invalid: {_explain(error)}") from None


def parse_label_categories(raw: Any, file_name: str) -> LabelCategories:
    try:
        return LabelCategories.model_validate(raw)
    except ValidationError as error:
        raise JobSetupError(
            f"{file_name} is invalid: {_explain(error)}; expected "
            + json.dumps({"document-version": "2018-11-28", "labels": [{"label": "a"}, {"label": "b"}]})
        ) from None


def check_task_type_available(config: JobConfig, available: list[str], file_name: str) -> None:
    if config.TaskType not in available:
        raise JobSetupError(
            f"{file_name} asks for TaskType {config.TaskType!r}, but this deployment has no model "
            f"container for it; available: {', '.join(available) or 'none'}"
        )


def check_items(
    lines: Iterable[str], config: JobConfig, manifest_name: str, *,
    on_invalid: Callable[[InvalidLine], None] = lambda line: None, object_check: ObjectCheck | None = None,
) -> ManifestCheck:
    """Check every line; bad ones go to `on_invalid`. Raises ManifestError when the job cannot go on."""
    check = check_manifest(lines, task_type(config.TaskType).source_key, on_invalid=on_invalid,
                           object_check=object_check)
    check.raise_if_unusable(manifest_name, config.MaxInvalidLinePercentage)
    return check


def is_automated(items: int, config: JobConfig, file_name: str) -> bool:
    """Automated labeling from 1,250 items, if the calibration sample can ever keep the promise."""
    if items < AUTOMATED_LABELING_MIN_ITEMS:
        return False
    needed = min_trials_to_pass(config.TargetAccuracy, 1.0 - config.ConfidenceLevel)
    if config.CalibrationSampleSize != "auto" and config.CalibrationSampleSize < needed:
        raise JobSetupError(
            f"{file_name}: CalibrationSampleSize {config.CalibrationSampleSize} can never show "
            f"{config.TargetAccuracy} accuracy at {config.ConfidenceLevel} confidence (that takes at least "
            f"{needed} correct calibration items); raise it to {needed} or more (and MaxConcurrentTaskCount "
            "above it), or lower TargetAccuracy or ConfidenceLevel"
        )
    return True
