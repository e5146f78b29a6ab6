"""`autolabel run --workforce web` as a user runs it: the command prints a sign-in link, a person
labels every item in the browser by pressing digit keys, and the job completes with their labels.

The texts come from tests/e2e/hard_text.py (U+0085, U+2028, RTL, emoji...), so the page shows
what real data holds; the "person" reads each text on the page and presses the key of its class.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import read_jsonl
from tests.e2e.hard_text import write_job

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect  # noqa: E402

ITEMS = 60
RUN_SECONDS = 240


def _start_run(job: dict, folder: Path) -> tuple[subprocess.Popen, list[str]]:
    """`autolabel run ... --workforce web` in its own process; its printed lines, as they come."""
    process = subprocess.Popen(
        [sys.executable, "-m", "autolabel.cli", "run", str(job["manifest"]), "--task-type", "text-classification",
         "--labels", str(job["labels"]), "--output", str(folder / "out"), "--workdir", str(folder / "work"),
         "--workforce", "web", "--job-name", "keys-only", "--human-batch-size", "20",
         "--calibration-sample-size", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
    )
    printed: list[str] = []

    def read() -> None:
        for line in process.stdout:
            printed.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return process, printed


def _sign_in_link(process: subprocess.Popen, printed: list[str]) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in printed:
            found = re.search(r"worker 1: (http://127\.0\.0\.1:\d+/\?login=\S+)", line)
            if found:
                return found[1]
        assert process.poll() is None, "\n".join(printed)
        time.sleep(0.2)
    raise AssertionError("no sign-in link printed:\n" + "\n".join(printed))


def test_a_person_labels_a_60_item_job_with_digit_keys_and_the_job_completes(browser, tmp_path):
    job = write_job(tmp_path / "data", items=ITEMS, bad_lines=0)
    names = json.loads(job["labels"].read_text())["labels"]
    names = [entry["label"] for entry in names]
    process, printed = _start_run(job, tmp_path)
    pressed: dict[str, str] = {}  # text -> the class whose key was pressed
    try:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.set_default_timeout(20_000)
        page.goto(_sign_in_link(process, printed))
        text = page.get_by_role("region", name="Text to classify")
        deadline = time.monotonic() + RUN_SECONDS
        while len(pressed) < ITEMS and time.monotonic() < deadline:
            view = page.locator("#view-task")
            # The link comes before the first batch is published ("No tasks right now" until then),
            # and the next batch after the model's step.
            expect(view).to_be_visible(timeout=90_000)
            expect(view).not_to_have_class(re.compile(r"\bbusy\b"), timeout=20_000)
            shown = text.evaluate("e => e.textContent")
            label = names[job["gold"][shown]]  # the page shows the text exactly, so it is found
            page.keyboard.press(str(names.index(label) + 1))
            pressed[shown] = label
            expect(page.locator("#mine")).to_have_text(str(len(pressed)), timeout=20_000)
        assert process.wait(timeout=120) == 0, "\n".join(printed)
    finally:
        if process.poll() is None:
            process.kill()
    assert any("job keys-only complete" in line for line in printed), "\n".join(printed)
    out = read_jsonl(tmp_path / "out" / "manifests" / "output" / "output.manifest")
    assert len(out) == ITEMS
    assert all(line["label-metadata"]["human-annotated"] == "yes" for line in out)
    assert {line["source"]: names[line["label"]] for line in out} == pressed
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["counters"]["HumanLabeled"] == ITEMS and report["cost"]["humanAnswers"] == ITEMS
