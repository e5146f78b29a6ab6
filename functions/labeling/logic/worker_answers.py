"""Workers' answers as Ground Truth writes them: one worker-response file per counted answer.

Ground Truth's output data (sms-data-output) keeps each worker's response under
`annotations/worker-response/iteration-N/<data object id>/` as
    {"answers": [{"answerContent": {...}, "workerId", "workerMetadata", "acceptanceTime",
                  "submissionTime", "timeSpentInSeconds"}]}
with times as YYYY-MM-DDTHH:MM:SS.mmmZ. Ours hold one answer each, named
`<submission time>-<worker id>.json` from the times DynamoDB recorded when the answer was
counted, so the file of a counted answer always has the same name and content: a retry
publishes the same object again, which a write that cannot overwrite turns into nothing.

`answerContent` is the answer as the worker sent it to the task API (docs/task-api.md):
{"label": "<class name>"} for classification and Ground Truth's bounding-box tool answer
{"boundingBox": {"boundingBoxes": [...], "inputImageProperties": {...}}} for boxes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from labeling.logic.leases import compact, iso

COGNITO_ISSUER = "cognito-idp."


def file_name(submitted_at: int, worker_id: str) -> str:
    return f"{compact(submitted_at)}-{worker_id}.json"


def worker_metadata(claims: Mapping[str, Any]) -> dict[str, Any]:
    """Ground Truth's workerMetadata: who signed the worker in (the token's issuer and subject)."""
    issuer = str(claims.get("iss", ""))
    return {"identityData": {
        # Ground Truth names Cognito user pools "Cognito" and other OpenID Connect providers "Oidc";
        # the local gateway's tokens stand in for Cognito's but are not from a user pool.
        "identityProviderType": "Cognito" if COGNITO_ISSUER in issuer else "Oidc",
        "issuer": issuer, "sub": str(claims.get("sub", "")),
    }}


def response_record(*, answer_content: Mapping[str, Any], worker_id: str, worker_metadata: Mapping[str, Any],
                    accepted_at: int, submitted_at: int) -> dict[str, Any]:
    return {"answers": [{
        "answerContent": dict(answer_content),
        "workerId": worker_id,
        "workerMetadata": dict(worker_metadata),
        "acceptanceTime": iso(accepted_at),
        "submissionTime": iso(submitted_at),
        "timeSpentInSeconds": round(max(0, submitted_at - accepted_at) / 1000, 3),
    }]}


def first_answers(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """worker id -> that worker's answer (Ground Truth's answer record), from an item's worker-response
    files (in the order listed).

    A worker counts once per item; should a folder hold two answers of one worker (our API
    writes one), the one submitted first is theirs.
    """
    first: dict[str, dict[str, Any]] = {}
    for record in records:
        for answer in record.get("answers", []):
            worker = answer["workerId"]
            if worker not in first or answer.get("submissionTime", "") < first[worker].get("submissionTime", ""):
                first[worker] = answer
    return first


def answers_by_worker(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """worker id -> answerContent of each worker's first answer (first_answers)."""
    return {worker: answer["answerContent"] for worker, answer in first_answers(records).items()}
