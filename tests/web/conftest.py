"""Fixtures for the labeling page's browser tests (test_labeling_page.py).

`labeling_site` is what `autolabel run --workforce web` serves: a local cloud with the real
handlers and the local gateway (autolabel/localcloud/gateway.py) in front of them, fresh for
each test, with three small human-only jobs already waiting for workers:

- `base_url`: where the gateway listens, e.g. "http://127.0.0.1:8123". It serves web/ at "/",
  `config.json` (`{"apiBase": "/api", "auth": {"kind": "local"}}`), `POST /local/session` and
  the task API of docs/task-api.md under /api (TaskApiFunction behind the JWT check).
- `login_url(n)` (also `login_url_for_worker(n)`): a fresh one-time sign-in link
  (`<base_url>/?login=<code>`) for worker n (1, 2, ...; worker id "worker-<n>"); different n
  are different workers.
- `answers()`: the worker answers stored so far (the worker-response files under
  jobs/<job>/output/annotations/worker-response/ of the local cloud's S3), in the order they
  were submitted, each `{"taskId", "workerId", "answer": <the body the page posted>, "job"}`.
- `jobs`: task type -> job name; `wait_for_job(job)`: the job's execution status once it ends.

The jobs (JOBS): text classification (BBC News articles, 5 topics), image classification
(digits 0-2 drawn at 112 x 112 pixels) and object detection (the shapes data set's 128 x 128
scenes, 3 classes), each with every task open to every worker (one batch; one worker per item)
and a 5-minute lease (TaskTimeLimitInSeconds 300).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from autolabel import shapes
from autolabel.datasets import label_categories
from autolabel.localcloud.cloud import LocalCloud
from autolabel.localcloud.gateway import LocalGateway
from labeling.dal.tasks import task_id
from tests.gateway_client import call

CHROMIUM = "/usr/bin/chromium"

# task type -> (job name, items, job.json settings besides TaskType)
JOBS: dict[str, tuple[str, int, dict[str, Any]]] = {
    "text-classification": ("web-text", 8, {"Instructions": "Choose the topic of the article."}),
    "image-classification": ("web-images", 8, {"Instructions": "Which digit is it?"}),
    "object-detection": ("web-boxes", 6, {"Instructions": "Draw a box around every shape."}),
}
JOB_SETTINGS = {"MaxConcurrentTaskCount": 20, "CalibrationSampleSize": 10, "TaskTimeLimitInSeconds": 300}
IMAGE_SIZE = 112  # the digits' 8 x 8 pixels, drawn larger
DIGITS = ("0", "1", "2")
PROBE = "fixture-probe"  # a worker who never claims: sees what is open for everyone
READY_SECONDS = 60


@dataclass
class LabelingSite:
    base_url: str
    gateway: LocalGateway
    cloud: LocalCloud
    jobs: dict[str, str]  # task type -> job name
    items: dict[str, int] = field(default_factory=dict)  # job name -> how many items

    def login_url(self, worker_number: int) -> str:
        return self.gateway.login_url(f"worker-{worker_number}")

    login_url_for_worker = login_url

    def answers(self, job: str | None = None) -> list[dict[str, Any]]:
        """The stored worker answers (all jobs', or one job's), in the order they were submitted."""
        s3 = boto3.client("s3")
        stored = []
        for name in [job] if job else self.jobs.values():
            prefix = f"jobs/{name}/output/annotations/worker-response/"
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.cloud.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    record = json.loads(s3.get_object(Bucket=self.cloud.bucket, Key=obj["Key"])["Body"].read())
                    stored.extend(_answers_of(name, obj["Key"][len(prefix):], record))
        return [answer for _, answer in sorted(stored, key=lambda pair: pair[0])]

    def wait_for_job(self, job: str, timeout: float = 60) -> str:
        """The job's execution status once it is no longer RUNNING (e.g. "SUCCEEDED")."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(job)
            if status not in ("RUNNING", None) or time.monotonic() > deadline:
                return status or "NOT STARTED"
            time.sleep(0.2)

    def status(self, job: str) -> str | None:
        executions = boto3.client("stepfunctions").list_executions(
            stateMachineArn=self.cloud.state_machine_arn)["executions"]
        return next((e["status"] for e in executions if e["name"] == job), None)

    def open_tasks(self) -> dict[str, int]:
        """job name -> tasks open for a worker who has not claimed any (GET /api/jobs)."""
        status, body = call(self.base_url, "GET", "/api/jobs", self.gateway.mint_token(PROBE))
        if status != 200:
            raise AssertionError(f"GET /api/jobs answered {status}: {str(body)[:300]}")
        return {job["job"]: int(job.get("openTasks", 0)) for job in body["jobs"]}


def _answers_of(job: str, relative_key: str, record: dict[str, Any]) -> list[tuple[tuple, dict[str, Any]]]:
    """(sort key, answer) of one worker-response file: iteration-<k>/<item id>/<time>-<worker>.json."""
    parts = relative_key.split("/")
    iteration = int(parts[0].removeprefix("iteration-")) if parts[0].startswith("iteration-") else 0
    item = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None
    if "answers" in record:  # Ground Truth's shape: {"answers": [{"answerContent", "workerId", ...}]}
        return [((answer.get("submissionTime", ""), relative_key), {
            "taskId": record.get("taskId") or (task_id(iteration, item) if item is not None else None),
            "workerId": answer["workerId"], "answer": answer["answerContent"], "job": job,
            "submissionTime": answer.get("submissionTime")}) for answer in record["answers"]]
    return [((record.get("submittedAt", ""), relative_key), {
        "taskId": record.get("taskId"), "workerId": record.get("workerId"), "answer": record.get("answer"),
        "job": job})]


# ------------------------------------------------------------------------------------ the data ----

@pytest.fixture(scope="session")
def web_job_files(bbc_news, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """task type -> {"labels": bytes, "items": [(manifest record, image bytes or None)]}."""
    files: dict[str, dict[str, Any]] = {}
    count = JOBS["text-classification"][1]
    articles = bbc_news["manifest"].read_text(encoding="utf-8").splitlines()
    # Articles of different topics, so that a test's answers are not all one class.
    step = len(articles) // count
    files["text-classification"] = {"labels": bbc_news["labels"].read_bytes(),
                                    "items": [(json.loads(articles[i * step]), None) for i in range(count)]}

    digits = load_digits()
    chosen = [i for i, target in enumerate(digits.target) if str(target) in DIGITS][:JOBS["image-classification"][1]]
    images = []
    for i in chosen:
        pixels = np.rint(digits.images[i] * (255 / 16)).astype(np.uint8)
        png = io.BytesIO()
        Image.fromarray(pixels).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.NEAREST).save(png, format="PNG")
        images.append(({"source-ref": f"digit-{i:04d}.png"}, png.getvalue()))
    files["image-classification"] = {"labels": json.dumps(label_categories(list(DIGITS))).encode(), "items": images}

    rng = np.random.default_rng(0)
    scenes = []
    for number in range(JOBS["object-detection"][1]):
        png = io.BytesIO()
        Image.fromarray(shapes.draw_scene(rng).pixels).save(png, format="PNG")
        scenes.append(({"source-ref": f"scene-{number:04d}.png"}, png.getvalue()))
    files["object-detection"] = {"labels": json.dumps(label_categories(list(shapes.CLASSES))).encode(),
                                 "items": scenes}
    return files


def _start_job(cloud: LocalCloud, task_type: str, job: str, files: dict[str, Any], settings: dict[str, Any]) -> None:
    """Upload a job as `autolabel run` does: job.json, labels.json, the images, then the manifest (the trigger)."""
    s3 = boto3.client("s3")
    prefix = f"jobs/{job}/"
    s3.put_object(Bucket=cloud.bucket, Key=prefix + "job.json",
                  Body=json.dumps({"TaskType": task_type, **JOB_SETTINGS, **settings}).encode())
    s3.put_object(Bucket=cloud.bucket, Key=prefix + "labels.json", Body=files["labels"])
    lines = []
    for record, image in files["items"]:
        if image is not None:
            key = f"{prefix}data/{record['source-ref']}"
            s3.put_object(Bucket=cloud.bucket, Key=key, Body=image, ContentType="image/png")
            record = {**record, "source-ref": f"s3://{cloud.bucket}/{key}"}
        lines.append(json.dumps(record, ensure_ascii=False))
    s3.put_object(Bucket=cloud.bucket, Key=prefix + "input.manifest", Body=("\n".join(lines) + "\n").encode())


# ------------------------------------------------------------------------------------ the site ----

@pytest.fixture
def labeling_site(synthesized_app, web_job_files, tmp_path) -> Iterator[LabelingSite]:
    with LocalCloud(synthesized_app, tmp_path / "cloud") as cloud, \
            LocalGateway(cloud, log_file=tmp_path / "gateway.log") as gateway:
        site = LabelingSite(base_url=gateway.base_url, gateway=gateway, cloud=cloud,
                            jobs={task_type: job for task_type, (job, _, _) in JOBS.items()})
        for task_type, (job, count, settings) in JOBS.items():
            _start_job(cloud, task_type, job, web_job_files[task_type], settings)
            site.items[job] = count
        _wait_until_open(site)
        yield site


def _wait_until_open(site: LabelingSite) -> None:
    """Until every job's tasks are all open to a worker (the batch is published)."""
    deadline = time.monotonic() + READY_SECONDS
    open_now: dict[str, int] = {}
    while time.monotonic() < deadline:
        open_now = site.open_tasks()
        if all(open_now.get(job, 0) >= count for job, count in site.items.items()):
            return
        failed = {job: site.status(job) for job in site.items if site.status(job) not in ("RUNNING", None)}
        if failed:
            raise AssertionError(f"jobs ended before their tasks opened: {failed} (logs: {site.cloud.workdir})")
        time.sleep(0.2)
    raise AssertionError(f"the jobs' tasks did not open within {READY_SECONDS} s: open {open_now}, "
                         f"expected {site.items} (logs: {site.cloud.workdir})")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, driven by Playwright (its own browser download cannot work here)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI"):  # .ci/run installs it: there, its absence is a failure, not a skip
            pytest.fail(f"no Chromium at {CHROMIUM}; .ci/run installs Debian's chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: the tests run as root.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()
