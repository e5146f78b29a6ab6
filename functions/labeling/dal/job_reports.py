"""An earlier job's report.json, found by the job's name (ValidateJob's check of InitialActiveLearningModelArn)."""

from __future__ import annotations

from typing import Any

from labeling.dal import s3
from labeling.layout import JobLayout

JOBS_PREFIX = "jobs/"


def find_report(bucket: str, job: str) -> dict[str, Any] | None:
    """report.json of job `job`, None when it has none.

    SageMaker writes a model's name in lower case in its ARN, so a job named "BBC-News" is
    known from its model's ARN as "bbc-news": when no job has that exact name, the job folder
    of the same name in another case is the one (job names are unique in the bucket as
    written; two that differ only in case would be ambiguous, and are refused).
    """
    report = s3.read_json_if_present(bucket, JobLayout(JOBS_PREFIX + job).report)
    if report is not None:
        return report
    alike = [folder for folder in s3.list_folders(bucket, JOBS_PREFIX)
             if folder.removeprefix(JOBS_PREFIX).rstrip("/").casefold() == job.casefold()]
    if len(alike) != 1:
        return None
    return s3.read_json_if_present(bucket, JobLayout(alike[0]).report)
