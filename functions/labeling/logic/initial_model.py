"""job.json's InitialActiveLearningModelArn: which earlier model it names, and whether this job can use it.

The model must be the final model of an earlier job of this stack (its report.json's
finalActiveLearningModel): that report says what the model is, so no SageMaker call is needed
to check it. The model's name (<job>-<run>-<iteration>-model, logic/sagemaker_step.py) names
the job; SageMaker writes the name in lower case in the ARN, so ARNs are compared case-blind.
The model predicts class indexes into its job's labels, so this job needs the same labels in
the same order, and the same task type (the same container reads the model).
"""

from __future__ import annotations

from typing import Any

from labeling.logic.job_setup import JobSetupError
from labeling.logic.sagemaker_step import job_of_model
from labeling.models.job import JobConfig
from labeling.models.state import ActiveLearningModel

SETTING = "InitialActiveLearningModelArn"


def model_name_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def earlier_job(arn: str, file_name: str) -> str:
    """The job whose final model `arn` names, as its name is written in the ARN."""
    job = job_of_model(model_name_of(arn))
    if job is None:
        raise JobSetupError(
            f"{file_name}: {SETTING} {arn} is no model this stack made (its models are named "
            "<job>-<run>-<iteration>-model); give the finalActiveLearningModel.modelArn of an earlier job's "
            f"report.json, or remove {SETTING} to train the first model"
        )
    return job


def initial_model(arn: str, earlier_report: dict[str, Any] | None, config: JobConfig, label_names: list[str],
                  file_name: str) -> ActiveLearningModel:
    """The model `arn` names as its job's report.json has it; JobSetupError when this job cannot start from it."""
    job = earlier_job(arn, file_name)
    setting = f"{file_name}: {SETTING} {arn}"
    if earlier_report is None:
        raise JobSetupError(
            f"{setting} names job {job!r}, but no job of that name in this bucket has a report.json, so this stack "
            f"did not make the model (or the job's outputs were deleted); give the finalActiveLearningModel.modelArn "
            f"of an earlier job's report.json, or remove {SETTING}"
        )
    final = earlier_report.get("finalActiveLearningModel")
    if final is None or final["modelArn"].casefold() != arn.casefold():
        named = final["modelArn"] if final else "no model (it trained none)"
        raise JobSetupError(
            f"{setting} is not the final model of job {earlier_report['job']!r}: its report.json names {named}; "
            f"use that job's finalActiveLearningModel.modelArn, or remove {SETTING}"
        )
    if final["taskType"] != config.TaskType:
        raise JobSetupError(
            f"{setting} is a {final['taskType']} model (job {earlier_report['job']!r}), and this job's TaskType is "
            f"{config.TaskType}; give the final model of a {config.TaskType} job, or remove {SETTING}"
        )
    earlier_labels = list(earlier_report.get("labelNames") or [])
    if earlier_labels != label_names:
        how = ("the same labels in another order; the model's answers are positions in that list, so list them "
               "in labels.json in its order" if sorted(earlier_labels) == sorted(label_names) else
               "other labels; use a model of a job with this job's labels, or remove " + SETTING)
        raise JobSetupError(
            f"{setting} was trained on the labels {earlier_labels} (job {earlier_report['job']!r}), and this job's "
            f"labels.json has {label_names}: {how}"
        )
    return ActiveLearningModel(iteration=final["iteration"], modelName=final["modelName"],
                               modelArn=final["modelArn"], modelArtifacts=final["modelArtifacts"])
