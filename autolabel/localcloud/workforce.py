"""A simulated workforce: answers human tasks from a manifest of known labels.

It calls the same task API over HTTP that workers' labeling page calls
(docs/task-api.md), through the local gateway (gateway.py) to the task API function.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from autolabel.localcloud.gateway import s3_uri_of
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


class _Refused(Exception):
    """A 409: the answer can no longer count (another worker finished the task or the batch)."""


class _Worker:
    """One simulated worker's HTTP client: its token and one kept-alive connection to the gateway."""

    def __init__(self, worker_id: str, token: str, host: str, port: int, timeout: float = 120):
        self.worker_id = worker_id
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._host, self._port, self._timeout = host, port, timeout
        self._connection: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self._headers, **({"Content-Type": "application/json"} if data is not None else {})}
        # Once more, on a new connection: after a kept-alive connection the server closed meanwhile,
        # or after a timeout. A socket's timeout runs on the monotonic clock, which goes on while the
        # process is stopped (kill -STOP, a debugger), so a run resumed after 2 minutes found every
        # waiting request timed out and stopped the job. A repeated claim or answer is safe: the task
        # API counts a worker's answer once and answers its retry as a duplicate.
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            try:
                self._connection.request(method, path, body=data, headers=headers)
                response = self._connection.getresponse()
                status, text = response.status, response.read()
                request_id = response.getheader("apigw-requestid")
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, TimeoutError):
                self.close()
                if attempt == 2:
                    raise
        try:
            value = json.loads(text) if text else {}
        except json.JSONDecodeError:
            value = {"message": text[:200].decode("utf-8", "replace")}
        if status == 409:
            raise _Refused(value.get("reason") or value.get("message"))
        if status != 200:
            raise _ApiError(method, path, status, value.get("message", "") if isinstance(value, dict) else "",
                            request_id)
        return value

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _ApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, message: str, request_id: str | None):
        super().__init__(f"{method} {path} answered {status}: {message}")
        self.request_id = request_id


def task_item_key(task: dict[str, Any]) -> str:
    """The answers' key of a task's item: its text, or the S3 object its image URL reads."""
    item = task.get("item") or {}
    if "text" in item:
        return f"source:{item['text']}"
    if "imageUrl" in item:
        uri = s3_uri_of(item["imageUrl"])
        if uri:
            return f"source-ref:{uri}"
    return _item_key(task)


class SimulatedWorkforce:
    """Workers who answer one job's tasks from known answers, through the task API over HTTP.

    Each worker signs in (a token from the gateway, as a sign-in link gives the page) and, on
    a thread of its own, does what a worker at the labeling page does: GET /api/jobs, and while
    the job has work for it, claim a task and answer it. A 409 (another worker finished the task
    or the batch first) is part of the work; any other refusal stops the workforce, and `errors`
    says why (the runner stops on it).
    """

    def __init__(self, answers: dict[str, dict[str, Any]], *, job: str, gateway, workers: int = 1,
                 poll_seconds: float = 0.2):
        self.answers = answers
        self.job = job
        self.gateway = gateway
        self.poll_seconds = poll_seconds
        self.worker_ids = [f"simulated-worker-{i + 1}" for i in range(workers)]
        self.answered = 0
        self.refused = 0  # answers that could no longer count (409)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _worker(self, worker_id: str) -> _Worker:
        return _Worker(worker_id, self.gateway.mint_token(worker_id), self.gateway.host, self.gateway.port)

    def _job_path(self) -> str:
        return f"/api/jobs/{quote(self.job, safe='')}"

    def _has_work(self, worker: _Worker) -> bool:
        jobs = worker.call("GET", "/api/jobs").get("jobs", [])
        return any(job.get("job") == self.job and job.get("openTasks", 1) for job in jobs)

    def work_once(self, worker: _Worker) -> int:
        """Claim and answer the job's tasks until none is open for this worker; how many were answered."""
        given = 0
        if not self._has_work(worker):
            return 0
        while not self._stop.is_set():
            task = worker.call("POST", f"{self._job_path()}/claim").get("task")
            if not task:
                break
            key = task_item_key(task)
            if key not in self.answers:
                raise RuntimeError(f"task {task.get('taskId')} is about an item the answers do not name ({key[:120]})")
            try:
                worker.call("POST", f"{self._job_path()}/tasks/{quote(task['taskId'], safe='')}/answer",
                            self.answers[key])
                given += 1
            except _Refused:
                with self._lock:
                    self.refused += 1
        with self._lock:
            self.answered += given
        return given

    def _run(self, worker_id: str) -> None:
        worker = self._worker(worker_id)
        try:
            while not self._stop.is_set():
                if not self.work_once(worker):
                    self._stop.wait(self.poll_seconds)
        except Exception as error:  # reported by the runner; workers stop on a broken API
            self._failed(error)
        finally:
            worker.close()

    def _failed(self, error: Exception) -> None:
        message = str(error)
        request_id = getattr(error, "request_id", None)
        function_error = request_id and self.gateway.function_errors.get(request_id)
        if function_error:
            message += f" (the task API failed: {function_error}; details in {self.gateway.log_file})"
        with self._lock:
            self.errors.append(message)
        self._stop.set()

    def start(self) -> list[threading.Thread]:
        self._threads = [threading.Thread(target=self._run, args=(worker_id,), daemon=True,
                                          name=f"simulated-{worker_id}") for worker_id in self.worker_ids]
        for thread in self._threads:
            thread.start()
        return self._threads

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
