"""One human label per item from its workers' answers: what ConsolidateAnnotations and ConsolidateAudit share.

Each worker-response file's answerContent is the answer as the worker sent it (class names); the
label kind checks it again and turns it into the indexes the consolidation works with (majority
vote for classes, box consolidation for boxes: logic/label_kinds.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labeling.logic.label_kinds import AnswerError, BoundingBoxes, Classification


class MissingAnswersError(RuntimeError):
    pass


def worker_answers(responses: Mapping[str, dict], k: int, item_id: int, kind: Classification | BoundingBoxes,
                   label_names: list[str]) -> dict[str, dict]:
    """worker id -> that worker's answer to the item, from its Ground Truth worker-response files
    (`responses`: worker id -> answerContent, labeling.dal.worker_responses.batch_answers)."""
    answers = {}
    for worker, content in responses.items():
        try:
            answers[worker] = kind.answer(content.get("label"), content.get("boundingBox"), label_names)
        except AnswerError as error:
            raise MissingAnswersError(f"the answer of worker {worker} to item {item_id} of iteration {k} does not fit "
                                      f"the job: {error}") from None
    return answers


def human_label(item: Mapping[str, Any], responses: Mapping[str, dict], *, k: int, needed: int,
                kind: Classification | BoundingBoxes, label_names: list[str], created: str) -> dict[str, Any]:
    """The label record of a batch item (the item's fields, the consolidated label, "human", "workers",
    "createdAt"); MissingAnswersError when it has fewer than `needed` answers or one that does not fit."""
    answers = worker_answers(responses, k, item["id"], kind, label_names)
    if len(answers) < needed:
        raise MissingAnswersError(f"item {item['id']} of iteration {k} has {len(answers)} of {needed} answers")
    return {**item, **kind.consolidate(answers), "human": True, "workers": len(answers), "createdAt": created}
