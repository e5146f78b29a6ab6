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


def _class_name(record: dict[str, Any], label_names: list[str], line_number: int) -> str:
    """Ground Truth output line -> class name; the label attribute is the one with -metadata."""
    for key, value in record.items():
        if key.endswith("-metadata") and isinstance(value, dict):
            attribute = key.removesuffix("-metadata")
            if "class-name" in value:
                return value["class-name"]
            if isinstance(record.get(attribute), int) and 0 <= record[attribute] < len(label_names):
                return label_names[record[attribute]]
    raise AnswersError(
        f"answers line {line_number} has no label in Ground Truth's format "
        "(<attribute>: class index, <attribute>-metadata: {\"class-name\": ...})"
    )


def load_answers(path: Path, label_names: list[str]) -> dict[str, str]:
    answers: dict[str, str] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                record = json.loads(line)
                name = _class_name(record, label_names, number)
                if name not in label_names:
                    raise AnswersError(f"answers line {number}: {name!r} is not one of the labels {label_names}")
                answers[_item_key(record)] = name
    return answers


def missing_answers(manifest_records: Iterable[dict[str, Any]], answers: dict[str, str]) -> list[int]:
    return [number for number, record in enumerate(manifest_records, start=1) if _item_key(record) not in answers]


class SimulatedWorkforce:
    def __init__(self, answers: dict[str, str], *, job: str, list_function: str, submit_function: str,
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
                label = self.answers[_item_key(task)]
                self._call(self.submit_function, {"job": self.job, "taskId": task["taskId"],
                                                  "workerId": worker, "label": label})
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
