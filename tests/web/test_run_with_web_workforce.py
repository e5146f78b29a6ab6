"""`autolabel run --workforce web` as a user runs it: the command prints a sign-in link, a person
labels every item in the browser by pressing digit keys, and the job completes with their labels.

The texts come from tests/e2e/hard_text.py (U+0085, U+2028, RTL, emoji...), so the page shows
what real data holds; the "person" reads each text on the page and presses the key of its class.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.conftest import read_jsonl
from tests.e2e.hard_text import write_job
from tests.web.web_run import WebRun

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect  # noqa: E402

ITEMS = 60
RUN_SECONDS = 240


def test_a_person_labels_a_60_item_job_with_digit_keys_and_the_job_completes(browser, tmp_path):
    job = write_job(tmp_path / "data", items=ITEMS, bad_lines=0)
    names = json.loads(job["labels"].read_text())["labels"]
    names = [entry["label"] for entry in names]
    run = WebRun([str(job["manifest"]), "--task-type", "text-classification", "--labels", str(job["labels"]),
                  "--output", str(tmp_path / "out"), "--workdir", str(tmp_path / "work"), "--job-name", "keys-only",
                  "--human-batch-size", "20", "--calibration-sample-size", "10"])
    pressed: dict[str, str] = {}  # text -> the class whose key was pressed
    try:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.set_default_timeout(20_000)
        page.goto(run.sign_in_link())
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
        assert run.process.wait(timeout=120) == 0, run.output
    finally:
        run.stop()
    assert "job keys-only complete" in run.output, run.output
    out = read_jsonl(tmp_path / "out" / "manifests" / "output" / "output.manifest")
    assert len(out) == ITEMS
    assert all(line["label-metadata"]["human-annotated"] == "yes" for line in out)
    assert {line["source"]: names[line["label"]] for line in out} == pressed
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["counters"]["HumanLabeled"] == ITEMS and report["cost"]["humanAnswers"] == ITEMS
