"""A simulated workforce: answers human tasks from a manifest of known labels.

It uses the same human task API that real workers' web app calls (the
ListTasks and SubmitAnswer functions), through the Lambda service.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3

ITEM_KEYS = ("source", "source-ref")


class AnswersError(ValueError):
    pass


def _item_key(record: dict[str, Any]) -> str:
    for key in ITEM_KEYS:
        if key in record:
            return f"{key}:{record[key]}"
    raise AnswersError(f"line has neither 'source' nor 'source-ref': {json.dumps(record)[:120]}")


def _label_attribute(record: dict[str, Any]) -> str | None:
    """The line's label attribute: the key whose `<key>-metadata` is beside it."""
    for key, value in record.items():
        if key.endswith("-metadata") and isinstance(value, dict):
            return key.removesuffix("-metadata")
    return None


def _class_answer(record: dict[str, Any], attribute: str, label_names: list[str]) -> dict[str, Any] | None:
    metadata = record[f"{attribute}-metadata"]
    if "class-name" in metadata:
        return {"label": metadata["class-name"]}
    value = record.get(attribute)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(label_names):
        return {"label": label_names[value]}
    return None


def _box_answer(record: dict[str, Any], attribute: str, label_names: list[str]) -> dict[str, Any] | None:
    """Ground Truth's bounding-box output line -> the bounding-box tool's answer for the same boxes."""
    value = record.get(attribute)
    if not isinstance(value, dict) or not isinstance(value.get("annotations"), list) or not value.get("image_size"):
        return None
    # class-map's keys are strings in Ground Truth's output; without one, class ids index labels.json.
    class_map = record[f"{attribute}-metadata"].get("class-map") or dict(enumerate(label_names))
    names = {str(class_id): name for class_id, name in class_map.items()}
    size = value["image_size"][0]
    return {"boundingBox": {
        "boundingBoxes": [
            {"label": names.get(str(box["class_id"]), f"class_id {box['class_id']}"),
             **{edge: box[edge] for edge in ("left", "top", "width", "height")}}
            for box in value["annotations"]
        ],
        "inputImageProperties": {"width": size["width"], "height": size["height"]},
    }}


def _answer(record: dict[str, Any], label_names: list[str], line_number: int) -> dict[str, Any]:
    attribute = _label_attribute(record)
    answer = attribute and (_class_answer(record, attribute, label_names) or
                            _box_answer(record, attribute, label_names))
    if not answer:
        raise AnswersError(
            f"answers line {line_number} has no label in Ground Truth's format: for classes <attribute>: "
            "class index and <attribute>-metadata: {\"class-name\": ...}; for boxes <attribute>: "
            "{\"image_size\", \"annotations\"} and <attribute>-metadata: {\"class-map\"}"
        )
    names = [answer["label"]] if "label" in answer else [b["label"] for b in answer["boundingBox"]["boundingBoxes"]]
    unknown = [name for name in names if name not in label_names]
    if unknown:
        raise AnswersError(f"answers line {line_number}: {unknown[0]!r} is not one of the labels {label_names}")
    return answer


def load_answers(path: Path, label_names: list[str]) -> dict[str, dict[str, Any]]:
    """Item key -> what a worker submits for it: {"label": class name} or {"boundingBox": ...}."""
    answers: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                record = json.loads(line)
                answers[_item_key(record)] = _answer(record, label_names, number)
    return answers


def missing_answers(manifest_records: Iterable[dict[str, Any]], answers: dict[str, dict[str, Any]]) -> list[int]:
    return [number for number, record in enumerate(manifest_records, start=1) if _item_key(record) not in answers]


class SimulatedWorkforce:
    def __init__(self, answers: dict[str, dict[str, Any]], *, job: str, list_function: str, submit_function: str,
                 workers: int = 1):
        self.answers = answers
        self.job = job
        self.list_function, self.submit_function = list_function, submit_function
        self.worker_ids = [f"simulated-worker-{i + 1}" for i in range(workers)]
        self.answered = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lambda = boto3.client("lambda")

    def _call(self, function: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self._lambda.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        body = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise RuntimeError(f"{function}: {body.get('errorType')}: {body.get('errorMessage')}")
        return body

    def work_once(self) -> int:
        """Answer every open task once per worker; returns how many answers were given."""
        given = 0
        for worker in self.worker_ids:
            tasks = self._call(self.list_function, {"job": self.job, "workerId": worker, "limit": 100})["tasks"]
            for task in tasks:
                self._call(self.submit_function, {"job": self.job, "taskId": task["taskId"],
                                                  "workerId": worker, **self.answers[_item_key(task)]})
                given += 1
        self.answered += given
        return given

    def run(self, poll_seconds: float = 0.2) -> None:
        while not self._stop.is_set():
            try:
                if not self.work_once():
                    self._stop.wait(poll_seconds)
            except Exception as error:  # reported by the runner; workers stop on a broken API
                self.errors.append(str(error))
                return

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True, name="simulated-workforce")
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
