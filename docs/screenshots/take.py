"""Screenshots of the labeling page on the local cloud, one per task type and one at phone width.

    .venv/bin/python docs/screenshots/take.py

Each runs `autolabel run --workforce web` on a small data set of the kind, opens the printed
sign-in link in Debian's Chromium (Playwright), and saves the page with its first task.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository: tests/ holds the text data set's writer

from autolabel.images import write_mnist, write_shapes  # noqa: E402
from tests.e2e.hard_text import write_job  # noqa: E402
from tests.web.web_run import WebRun  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
LAPTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


def shoot(name: str, files: dict, task_type: str, settings: list[str], browser, viewport: dict) -> None:
    with tempfile.TemporaryDirectory() as work:
        run = WebRun([str(files["manifest"]), "--task-type", task_type, "--labels", str(files["labels"]),
                      "--output", f"{work}/out", "--workdir", f"{work}/work", *settings])
        try:
            page = browser.new_context(viewport=viewport).new_page()
            page.goto(run.sign_in_link())
            page.locator("#view-task").wait_for(state="visible", timeout=90_000)
            page.wait_for_timeout(800)  # the image loaded, the countdown drawn
            page.screenshot(path=str(HERE / f"{name}.png"), full_page=viewport is PHONE)
            page.context.close()
        finally:
            run.stop()


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="screenshots-"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        text, shapes = write_job(data / "text", items=30, bad_lines=0), write_shapes(data / "shapes", count=30)
        shoot("text-classification", text, "text-classification", [], browser, LAPTOP)
        shoot("image-classification", write_mnist(data / "mnist", limit=30), "image-classification", [],
              browser, LAPTOP)
        shoot("object-detection", shapes, "object-detection", ["--job-name", "shapes"], browser, LAPTOP)
        shoot("phone-object-detection", shapes, "object-detection", ["--job-name", "shapes"], browser, PHONE)
        browser.close()


if __name__ == "__main__":
    main()
