"""A simulated workforce: answers human tasks from a manifest of known labels.

It uses the same human task API that real workers' web app calls (the
ListTasks and SubmitAnswer functions), through the Lambda service.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from labeling.logic.jsonl import file_lines
from labeling.logic.manifest import manifest_lines, parse_line

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


def _answer(record: dict[str, Any], label_names: list[str], where: str) -> dict[str, Any]:
    attribute = _label_attribute(record)
    try:
        answer = attribute and (_class_answer(record, attribute, label_names) or
                                _box_answer(record, attribute, label_names))
    except (KeyError, TypeError, IndexError, AttributeError):  # a box without its fields, a size not a list
        answer = None
    if not answer:
        raise AnswersError(
            f"{where} has no label in Ground Truth's format: for classes <attribute>: "
            "class index and <attribute>-metadata: {\"class-name\": ...}; for boxes <attribute>: "
            "{\"image_size\", \"annotations\"} and <attribute>-metadata: {\"class-map\"}"
        )
    names = [answer["label"]] if "label" in answer else [b["label"] for b in answer["boundingBox"]["boundingBoxes"]]
    unknown = [name for name in names if name not in label_names]
    if unknown:
        raise AnswersError(f"{where}: {unknown[0]!r} is not one of the labels {label_names}; fix the answer, "
                           "or add the class to the labels file")
    return answer


def _json_problem(error: json.JSONDecodeError) -> str:
    if error.msg.startswith("Invalid control character"):
        return (f"a raw control character {error.doc[error.pos]!r} at column {error.colno}; inside a text, "
                "write a tab as \\t and a line break as \\n")
    return f"{error.msg} at column {error.colno}"


def _record(text: str, where: str, source_key: str | None) -> dict[str, Any]:
    """An answers line's record; refuses a line that names no item the way the manifest does."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise AnswersError(f"{where} is not valid JSON ({_json_problem(error)}); write one JSON object per line") \
            from None
    except RecursionError:
        raise AnswersError(f"{where} is nested too deeply to read; write one flat JSON object per line") from None
    if not isinstance(record, dict):
        raise AnswersError(f"{where} is not a JSON object; write one object per line, e.g. "
                           f"{{\"{source_key or ITEM_KEYS[0]}\": ..., \"label\": 0, "
                           "\"label-metadata\": {\"class-name\": ...}}")
    if not any(key in record for key in ITEM_KEYS):
        raise AnswersError(f"{where} has neither 'source' nor 'source-ref'; each answer names its item the way "
                           "the manifest does")
    return record


def load_answers(path: Path, label_names: list[str], *, name: str = "answers",
                 source_key: str | None = None) -> dict[str, dict[str, Any]]:
    """Item key -> what a worker submits for it: {"label": class name} or {"boundingBox": ...}.

    `name` is the answers file as the user knows it (`path` may be a copy with the same lines);
    `source_key`, the task type's item key.
    """
    answers: dict[str, dict[str, Any]] = {}
    first_line: dict[str, int] = {}
    for line in manifest_lines(file_lines(path)):
        where = f"{name} line {line.number}"
        record = _record(line.text, where, source_key)
        # Keyed by the task's item key where the line has it (another key's item is never asked about).
        key = f"{source_key}:{record[source_key]}" if source_key in record else _item_key(record)
        answer = _answer(record, label_names, where)
        if answers.setdefault(key, answer) != answer:  # which one would a worker give?
            raise AnswersError(f"{name} lines {first_line[key]} and {line.number} answer the same item "
                               "differently; keep the right one")
        first_line.setdefault(key, line.number)
    return answers


def missing_answers(manifest: Path, answers: dict[str, dict[str, Any]], source_key: str, *,
                    bad_ref: Callable[[str], bool] = lambda ref: False) -> list[int]:
    """The numbers of the manifest's lines that the workforce will be asked about and has no answer for.

    A bad line (logic/manifest.py's parse_line; an image reference that `bad_ref` finds
    missing) goes to no worker: the pipeline reports it, so it needs no answer.
    """
    missing = []
    for line in manifest_lines(file_lines(manifest)):
        record, _ = parse_line(line.text, source_key)
        if record is None or (source_key == "source-ref" and bad_ref(record[source_key])):
            continue
        if f"{source_key}:{record[source_key]}" not in answers:
            missing.append(line.number)
    return missing


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
