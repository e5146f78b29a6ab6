"""The labeling page (web/) in a real browser against the task API (docs/task-api.md).

Most tests drive the page served by `labeling_site` (conftest.py: the local gateway) and check the
answers the server stored. A few put a Playwright route in front of one API call to make the server
answer what it rarely does (409, 400, 401, a lease that runs out). The Cognito sign-in test needs no
server: it serves web/ and plays Cognito's hosted UI and the API with routes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, Route, expect  # noqa: E402

WEB = (Path(__file__).resolve().parents[2] / "web").resolve()

KINDS = {
    "text-classification": "Text classification",
    "image-classification": "Image classification",
    "object-detection": "Object detection",
}
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SIGNED_IN = "#view-task:visible, #view-jobs:visible"  # a task, or the list of jobs to choose from
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def new_page(browser):
    """Opens pages; afterwards checks that none threw, broke its CSP or reached beyond its hosts."""
    contexts, problems = [], []

    def open_page(viewport: dict | None = None, hosts: set[str] = LOCAL_HOSTS, **options) -> Page:
        context = browser.new_context(viewport=viewport or LAPTOP, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda err: problems.append(f"uncaught: {err}"))
        page.on("console", lambda msg: problems.append(f"console: {msg.text}")
                if "Content Security Policy" in msg.text else None)

        def check_host(request):
            host = urlsplit(request.url).hostname or ""
            if request.url.startswith(("http:", "https:")) and host not in hosts and f"[{host}]" not in hosts:
                problems.append(f"external request: {request.url}")

        page.on("request", check_host)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not problems, problems


# ------------------------------------------------------------------------------------ helpers


def open_job(page: Page, site, worker: int, task_type: str) -> None:
    """Signs worker in with a fresh link and opens a job of task_type, by keyboard."""
    page.goto(site.login_url_for_worker(worker))
    jobs_view = page.locator("#view-jobs")
    expect(page.locator(SIGNED_IN)).to_be_visible()
    if jobs_view.is_visible():
        jobs_view.get_by_role("button").filter(has_text=KINDS[task_type]).first.focus()
        page.keyboard.press("Enter")
    expect(page.locator("#task-kind")).to_have_text(KINDS[task_type])
    wait_ready(page)
    assert "login=" not in page.url, "the one-time code must leave the address bar"


def wait_ready(page: Page) -> str:
    """Waits until a task is shown and nothing is in flight; returns its task id."""
    view = page.locator("#view-task")
    expect(view).to_be_visible()
    expect(view).not_to_have_class(re.compile(r"\bbusy\b"))
    task_id = view.get_attribute("data-task-id")
    assert task_id
    return task_id


def wait_for_answers(site, before: int, count: int = 1, timeout_s: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        stored = site.answers()
        if len(stored) >= before + count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(stored) == before + count, stored[before:]
    return stored[before:]


def class_names(page: Page) -> list[str]:
    names = page.locator("#panel .class-button .class-name").all_text_contents()
    assert len(names) >= 2, names
    return names


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=4)
    page.mouse.move(*end, steps=4)
    page.mouse.up()


def focus_description(page: Page) -> dict:
    """The focused element: its accessibility-tree line, and whether its focus ring shows."""
    focused = page.locator(":focus")
    if focused.count() == 0:
        return {"line": "", "key": "body", "ring": False}
    line = focused.aria_snapshot().splitlines()[0]
    key, ring = focused.evaluate(
        """e => [e.id || e.dataset.id || e.className || e.tagName,
                 (s => s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)(getComputedStyle(e))]""")
    return {"line": line, "key": key, "ring": ring, "tag": focused.evaluate("e => e.tagName")}


def tab_through(page: Page, limit: int = 60) -> list[dict]:
    """Presses Tab from the top of the page until focus comes round again."""
    page.locator("main").focus()
    page.evaluate("document.activeElement.blur()")
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        here = focus_description(page)
        if here["key"] == "body" or (seen and here == seen[0]):
            break
        seen.append(here)
    return seen


def accessible_name(line: str) -> str:
    """`- button "Skip"` -> `Skip`; `- 'listitem "Box 1: circle, ..."':` -> `Box 1: circle, ...`."""
    body = line.removeprefix("- ").removesuffix(":")
    if len(body) > 1 and body[0] == body[-1] == "'":  # YAML quotes a line with a colon in it
        body = body[1:-1].replace("''", "'")
    if body.startswith("text: "):  # <summary>: named by its text
        return body.removeprefix("text: ")
    match = re.match(r'^[\w-]+ "((?:[^"\\]|\\.)*)"', body)
    return match.group(1) if match else ""


def natural_size(page: Page, img_name: str) -> tuple[int, int]:
    img = page.get_by_role("img", name=img_name)
    expect(img).to_be_visible()
    expect(img.locator("xpath=..")).not_to_have_class(re.compile(r"\bloading\b"))
    width, height = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert width > 0 and height > 0
    return width, height


# ------------------------------------------------------------------------------------ classification


def test_text_job_is_labeled_with_digit_keys_only(labeling_site, new_page):
    page = new_page()
    with page.expect_response(re.compile(r"/claim$")) as claimed:
        open_job(page, labeling_site, 1, "text-classification")
    task = claimed.value.json()["task"]
    classes = class_names(page)
    # The text exactly as given: whitespace kept, markup shown as characters, nothing parsed.
    shown = page.get_by_role("region", name="Text to classify")
    assert shown.evaluate("e => e.textContent") == task["item"]["text"]
    assert shown.evaluate("e => e.children.length") == 0
    assert shown.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    expect(page.locator("#instructions")).to_have_text(task["instructions"] or "")

    for round_, key in enumerate(["2", "1"], start=1):
        task_id = wait_ready(page)
        before = len(labeling_site.answers())
        page.keyboard.press(key)
        (answer,) = wait_for_answers(labeling_site, before)
        assert answer["taskId"] == task_id
        assert answer["answer"] == {"label": classes[int(key) - 1]}
        expect(page.locator("#live")).to_contain_text(f"Submitted: {classes[int(key) - 1]}")
        expect(page.locator("#mine")).to_have_text(str(round_))
    assert len({a["workerId"] for a in labeling_site.answers()[-2:]}) == 1


def test_image_job_is_labeled_by_clicking_class_buttons(labeling_site, new_page):
    page = new_page()
    open_job(page, labeling_site, 2, "image-classification")
    classes = class_names(page)
    for choice in (classes[1], classes[0]):
        task_id = wait_ready(page)
        natural_size(page, "Image to classify")
        before = len(labeling_site.answers())
        page.get_by_role("button", name=choice, exact=True).click()
        (answer,) = wait_for_answers(labeling_site, before)
        assert (answer["taskId"], answer["answer"]) == (task_id, {"label": choice})
    expect(page.locator("#mine")).to_have_text("2")


def test_s_skips_the_task(labeling_site, new_page):
    page = new_page()
    open_job(page, labeling_site, 3, "text-classification")
    skipped = wait_ready(page)
    before = len(labeling_site.answers())
    with page.expect_request(re.compile(r"/release$")) as released, page.expect_request(re.compile(r"/claim$")):
        page.keyboard.press("s")
    assert released.value.method == "POST"
    assert skipped.replace("#", "%23") in released.value.url or skipped in released.value.url
    next_task = wait_ready(page)
    assert next_task != skipped, "with other tasks open, the next claim must not hand back the task just skipped"
    expect(page.locator("#live")).to_contain_text("Skipped")
    assert len(labeling_site.answers()) == before


def test_text_is_shown_exactly_and_never_as_markup(labeling_site, new_page):
    page = new_page()
    hostile = ("<img src=x onerror=\"document.title='owned'\"> & <b>bold?</b> &amp;"
               "\n\n    indented\ttab  two  spaces\n\u202eRTL \U0001f600 \x00")

    def hostile_item(route: Route):
        response = route.fetch()
        body = response.json()
        if body.get("task"):
            body["task"]["item"] = {"text": hostile}
            body["task"]["instructions"] = "<script>document.title='owned'</script>\nline two"
        route.fulfill(response=response, body=json.dumps(body))

    page.route(re.compile(r"/claim$"), hostile_item)
    open_job(page, labeling_site, 16, "text-classification")
    shown = page.get_by_role("region", name="Text to classify")
    assert shown.evaluate("e => e.textContent") == hostile
    assert shown.evaluate("e => e.children.length") == 0
    assert page.locator("#instructions").evaluate("e => [e.textContent, e.children.length]") == [
        "<script>document.title='owned'</script>\nline two", 0]
    assert page.locator("#view-task img").count() == 0
    assert page.title() != "owned"


# ------------------------------------------------------------------------------------ object detection


def test_detection_boxes_are_drawn_moved_resized_classed_deleted_and_submitted(labeling_site, new_page):
    page = new_page()
    open_job(page, labeling_site, 4, "object-detection")
    task_id = wait_ready(page)
    classes = class_names(page)
    nat_w, nat_h = natural_size(page, "Image to label with boxes")
    img = page.get_by_role("img", name="Image to label with boxes")
    img.scroll_into_view_if_needed()
    bb = img.bounding_box()

    def at(fx: float, fy: float) -> tuple[float, float]:
        return bb["x"] + fx * bb["width"], bb["y"] + fy * bb["height"]

    rows = page.locator(".box-list > li")
    # Draw, then move it by dragging inside it, then resize it by its bottom-right handle.
    drag(page, at(0.10, 0.10), at(0.30, 0.35))
    expect(rows).to_have_count(1)
    drag(page, at(0.20, 0.225), at(0.25, 0.275))
    handle = page.locator(".box.selected .handle.se")
    hb = handle.bounding_box()
    drag(page, (hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2), at(0.50, 0.55))
    page.get_by_role("combobox", name="Class of box 1").select_option(label=classes[1])

    # A second box, deleted with its button; a third, deleted with the Delete key.
    drag(page, at(0.60, 0.60), at(0.85, 0.85))
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="Delete box 2").click()
    expect(rows).to_have_count(1)
    drag(page, at(0.62, 0.08), at(0.90, 0.30))
    expect(rows).to_have_count(2)
    page.keyboard.press("Delete")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_accessible_name(re.compile(rf"^Box 1: {re.escape(classes[1])}, left \d+"))

    before = len(labeling_site.answers())
    page.keyboard.press("Enter")
    (stored,) = wait_for_answers(labeling_site, before)
    assert stored["taskId"] == task_id
    answer = stored["answer"]["boundingBox"]
    assert answer["inputImageProperties"] == {"width": nat_w, "height": nat_h}
    (box,) = answer["boundingBoxes"]
    assert box["label"] == classes[1]
    assert all(isinstance(box[k], int) for k in ("left", "top", "width", "height"))
    assert box["left"] >= 0 and box["top"] >= 0
    assert box["left"] + box["width"] <= nat_w and box["top"] + box["height"] <= nat_h
    tolerance = 2 + math.ceil(nat_w / bb["width"])  # a screen pixel or two, in the image's pixels
    expected = {"left": 0.15 * nat_w, "top": 0.15 * nat_h,
                "width": 0.35 * nat_w, "height": 0.40 * nat_h}
    for key, value in expected.items():
        assert abs(box[key] - value) <= tolerance, (key, box, expected)

    # The next image: a box dragged out past the corner stops at the image's edges.
    edge_task = wait_ready(page)
    assert edge_task != task_id
    natural_size(page, "Image to label with boxes")
    bb = img.bounding_box()
    drag(page, at(0.70, 0.75), (bb["x"] + bb["width"] + 40, bb["y"] + bb["height"] + 40))
    expect(rows).to_have_count(1)
    before = len(labeling_site.answers())
    page.keyboard.press("Enter")
    (stored,) = wait_for_answers(labeling_site, before)
    (box,) = stored["answer"]["boundingBox"]["boundingBoxes"]
    assert stored["taskId"] == edge_task and box["label"] == classes[0]
    assert box["left"] + box["width"] == nat_w and box["top"] + box["height"] == nat_h, box
    assert abs(box["left"] - 0.70 * nat_w) <= tolerance and abs(box["top"] - 0.75 * nat_h) <= tolerance, box

    # And the next: no boxes is an answer too (an image with no objects).
    next_task = wait_ready(page)
    assert next_task != edge_task
    natural_size(page, "Image to label with boxes")
    expect(page.locator("#submit-boxes")).not_to_have_attribute("aria-disabled", "true")
    expect(page.locator("#submit-boxes")).to_contain_text("no objects")
    before = len(labeling_site.answers())
    page.keyboard.press("Enter")
    (empty,) = wait_for_answers(labeling_site, before)
    assert empty["taskId"] == next_task
    assert empty["answer"]["boundingBox"]["boundingBoxes"] == []


def test_detection_boxes_by_keyboard_only(labeling_site, new_page):
    page = new_page()
    open_job(page, labeling_site, 5, "object-detection")
    task_id = wait_ready(page)
    classes = class_names(page)
    nat_w, nat_h = natural_size(page, "Image to label with boxes")
    page.keyboard.press("2")  # the class for new boxes
    expect(page.get_by_role("button", name=classes[1], exact=True)).to_have_attribute("aria-pressed", "true")

    for _ in range(60):
        page.keyboard.press("Tab")
        if accessible_name(focus_description(page)["line"]) == "Add a box":
            break
    expect(page.locator(":focus")).to_have_accessible_name("Add a box")
    page.keyboard.press("Enter")
    row = page.locator(":focus")
    expect(row).to_have_accessible_name(re.compile(rf"^Box 1: {re.escape(classes[1])}, "))
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    # The row's own controls follow it in Tab order.
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_accessible_name("Class of box 1")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_accessible_name("Delete box 1")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(page.locator(":focus")).to_have_accessible_name(re.compile(r"^Box 1: "))

    before = len(labeling_site.answers())
    page.keyboard.press("Enter")
    (stored,) = wait_for_answers(labeling_site, before)
    assert stored["taskId"] == task_id
    (box,) = stored["answer"]["boundingBox"]["boundingBoxes"]
    width0, height0 = max(1, round(nat_w / 3)), max(1, round(nat_h / 3))
    step_x, step_y = max(1, round(nat_w / 100)), max(1, round(nat_h / 100))
    assert box["label"] == classes[1]
    assert abs(box["left"] - ((nat_w - width0) / 2 + 2 * step_x)) <= 1
    assert abs(box["top"] - (nat_h - height0) / 2) <= 1
    assert abs(box["width"] - width0) <= 1
    assert abs(box["height"] - (height0 + step_y)) <= 1


# ------------------------------------------------------------------------------------ reachability, layout


@pytest.mark.parametrize(("task_type", "worker"), [("text-classification", 6), ("object-detection", 7)])
def test_every_control_is_reachable_by_tab_with_a_name_and_a_visible_focus(labeling_site, new_page, task_type,
                                                                           worker):
    page = new_page()
    open_job(page, labeling_site, worker, task_type)
    classes = class_names(page)
    if task_type == "object-detection":
        natural_size(page, "Image to label with boxes")
        img = page.get_by_role("img", name="Image to label with boxes")
        bb = img.bounding_box()
        drag(page, (bb["x"] + 20, bb["y"] + 20), (bb["x"] + bb["width"] / 2, bb["y"] + bb["height"] / 2))
        expect(page.locator(".box-list > li")).to_have_count(1)
    visited = tab_through(page)
    names = [accessible_name(f["line"]) for f in visited]
    unnamed = [f["line"] for f, name in zip(visited, names, strict=True) if not name]
    assert not unnamed, unnamed
    no_ring = [f["line"] for f in visited if not f["ring"]]
    assert not no_ring, no_ring

    must_reach = [*classes, "Skip"]
    if task_type == "text-classification":
        must_reach.append("Text to classify")
    else:
        must_reach += ["Image: drag to draw a box", "Add a box", "Class of box 1", "Delete box 1"]
        assert any(n.startswith("Box 1: ") for n in names), names
        assert any(n.startswith("Submit") for n in names), names
    missing = [n for n in must_reach if n not in names]
    assert not missing, (missing, names)

    # Nothing focusable in the task is left out of the Tab order.
    focusables = page.locator("#view-task").locator(
        "button:visible, select:visible, summary:visible, [tabindex='0']:visible")
    assert focusables.count() <= len(visited)


@pytest.mark.parametrize(("viewport", "worker"), [(PHONE, 8), (LAPTOP, 9)], ids=["phone", "laptop"])
def test_no_horizontal_scroll_and_the_image_fits(labeling_site, new_page, viewport, worker):
    phone = viewport is PHONE
    page = new_page(viewport, is_mobile=phone, has_touch=phone, device_scale_factor=3 if phone else 1)
    for number, task_type in enumerate(KINDS):
        open_job(page, labeling_site, worker * 10 + number, task_type)
        if task_type != "text-classification":
            name = "Image to classify" if task_type == "image-classification" else "Image to label with boxes"
            natural_size(page, name)
            box = page.get_by_role("img", name=name).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], (task_type, box)
        scroll_width, client_width = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll_width <= client_width, (task_type, scroll_width, client_width)
        for button in page.locator("#panel button:visible").all():
            b = button.bounding_box()
            assert b["x"] >= 0 and b["x"] + b["width"] <= viewport["width"] + 0.5, (task_type, b)


# ------------------------------------------------------------------------------------ what the server says


def test_409_shows_the_servers_message_and_claims_the_next(labeling_site, new_page):
    page = new_page()
    open_job(page, labeling_site, 11, "text-classification")
    message = "This task was given to someone else after your time ran out."
    page.route(re.compile(r"/answer$"), lambda route: route.fulfill(
        status=409, json={"message": message, "reason": "lease-expired"}))
    before = len(labeling_site.answers())
    with page.expect_request(re.compile(r"/claim$")):
        page.keyboard.press("1")
    expect(page.locator("#notice")).to_have_text(message)
    wait_ready(page)
    assert len(labeling_site.answers()) == before


def test_400_shows_the_message_and_keeps_the_task(labeling_site, new_page):
    page = new_page()
    open_job(page, labeling_site, 12, "text-classification")
    task_id = wait_ready(page)
    classes = class_names(page)
    claims = []
    page.on("request", lambda r: claims.append(r.url) if r.url.endswith("/claim") else None)
    page.route(re.compile(r"/answer$"), lambda route: route.fulfill(
        status=400, json={"message": "unknown class 'x'; choose one of the job's classes"}))
    page.keyboard.press("1")
    expect(page.locator("#notice")).to_have_text("unknown class 'x'; choose one of the job's classes")
    assert wait_ready(page) == task_id and not claims
    page.unroute(re.compile(r"/answer$"))
    before = len(labeling_site.answers())
    page.keyboard.press("2")
    (answer,) = wait_for_answers(labeling_site, before)
    assert answer["taskId"] == task_id and answer["answer"] == {"label": classes[1]}
    expect(page.locator("#notice")).to_be_hidden()


def test_a_lease_that_runs_out_is_claimed_again(labeling_site, new_page):
    page = new_page()

    def short_lease(route: Route):
        response = route.fetch()
        body = response.json()
        if body.get("task"):
            accepted = datetime.fromisoformat(body["task"]["acceptedAt"])
            soon = accepted + timedelta(seconds=3)
            body["task"]["leaseExpiresAt"] = soon.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        route.fulfill(response=response, body=json.dumps(body))

    page.route(re.compile(r"/claim$"), short_lease)
    open_job(page, labeling_site, 13, "text-classification")
    expect(page.locator("#lease")).to_have_text(re.compile(r"^0:0[0-3]$"))
    with page.expect_request(re.compile(r"/claim$"), timeout=8_000):
        pass
    expect(page.locator("#notice")).to_contain_text("ran out")
    wait_ready(page)


def test_no_tasks_right_now_polls_until_there_are(labeling_site, new_page):
    page = new_page()
    asked = []

    def nothing_yet(route: Route):
        asked.append(time.monotonic())
        if len(asked) <= 2:
            route.fulfill(json={"jobs": []})
        else:
            route.fallback()

    page.route(re.compile(r"/api/jobs$"), nothing_yet)
    page.goto(labeling_site.login_url_for_worker(17))
    expect(page.locator("#view-message")).to_contain_text("No tasks right now")
    expect(page.locator(SIGNED_IN)).to_be_visible(timeout=20_000)
    assert len(asked) >= 3 and 2 <= asked[1] - asked[0] <= 10, asked


def test_sign_in_survives_a_reload_and_a_401_says_the_link_expired(labeling_site, new_page):
    page = new_page()
    open_job(page, labeling_site, 14, "text-classification")
    expect(page.locator("#who")).not_to_be_empty()
    page.reload()  # the token is in sessionStorage; the code is spent and gone from the URL
    expect(page.locator(SIGNED_IN)).to_be_visible()
    page.route(re.compile(r"/api/jobs$"), lambda route: route.fulfill(status=401, json={"message": "Unauthorized"}))
    page.reload()
    expect(page.locator("#view-message")).to_contain_text("Your sign-in link has expired; ask for a new one.")
    page.goto(labeling_site.base_url + "/")
    expect(page.locator("#view-message")).to_contain_text("sign-in link")


def test_a_used_sign_in_link_is_refused(labeling_site, new_page):
    link = labeling_site.login_url_for_worker(15)
    first = new_page()
    first.goto(link)
    expect(first.locator(SIGNED_IN)).to_be_visible()
    second = new_page()
    second.goto(link)
    expect(second.locator("#view-message")).to_contain_text("already been used or it has expired")


# ------------------------------------------------------------------------------------ Cognito (no server needed)

SITE = "https://labeling.example"
COGNITO = "https://autolabel-test.auth.us-east-1.amazoncognito.com"
CLIENT_ID = "test-client-id"
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_id_token(sub: str) -> str:
    claims = {"sub": sub, "email": "ana@example.org", "aud": CLIENT_ID, "exp": int(time.time()) + 3600}
    return ".".join(b64url(json.dumps(part).encode()) for part in ({"alg": "RS256"}, claims)) + ".sig"


def test_cognito_sign_in_uses_pkce_and_the_id_token(new_page):
    page = new_page(hosts={"labeling.example", "autolabel-test.auth.us-east-1.amazoncognito.com"})
    seen: dict[str, list] = {"authorize": [], "token": [], "api": []}
    id_token, refreshed_token = fake_id_token("cognito-sub-1"), fake_id_token("cognito-sub-1") + "2"
    api_status = {"code": 200}  # 401: the API refuses every token
    refused = set()  # the API refuses these tokens

    def site(route: Route):
        path = urlsplit(route.request.url).path
        if path == "/config.json":
            route.fulfill(json={"apiBase": "/api", "auth": {"kind": "cognito", "domain": COGNITO,
                                                            "clientId": CLIENT_ID, "redirectUri": f"{SITE}/"}})
            return
        file = WEB / ("index.html" if path == "/" else path.lstrip("/"))
        if file.is_file() and WEB in file.resolve().parents:
            route.fulfill(body=file.read_bytes(), content_type=CONTENT_TYPES.get(file.suffix, "text/plain"))
        else:
            route.fulfill(status=404, body="not found")

    def api(route: Route):
        seen["api"].append(route.request.headers.get("authorization"))
        if api_status["code"] != 200 or route.request.headers.get("authorization") in refused:
            route.fulfill(status=401, json={"message": "Unauthorized"})
        elif route.request.url.endswith("/api/jobs"):
            route.fulfill(json={"jobs": [{"job": "news", "taskType": "text-classification", "labels": ["a", "b"],
                                          "instructions": "Pick one.", "openTasks": 1}]})
        else:
            route.fulfill(json={"task": {"taskId": "1", "job": "news", "taskType": "text-classification",
                                         "labels": ["a", "b"], "instructions": "Pick one.",
                                         "item": {"text": "hello <b>world</b>"},
                                         "acceptedAt": "2030-01-01T00:00:00.000Z",
                                         "leaseExpiresAt": "2030-01-01T00:05:00.000Z",
                                         "progress": {"mine": 0, "batch": {"iteration": 1, "done": 0, "total": 1}}}})

    def authorize(route: Route):
        query = parse_qs(urlsplit(route.request.url).query)
        seen["authorize"].append(query)
        api_status["code"] = 200  # signed in again: the API takes the new token
        route.fulfill(status=302, headers={"Location": f"{SITE}/?code=the-code&state={query['state'][0]}"})

    def token(route: Route):
        form = parse_qs(route.request.post_data or "")
        seen["token"].append(form)
        new = refreshed_token if form["grant_type"] == ["refresh_token"] else id_token
        route.fulfill(json={"id_token": new, "access_token": "not-this-one", "expires_in": 3600,
                            "token_type": "Bearer"}, headers={"Access-Control-Allow-Origin": SITE})

    page.route(f"{SITE}/api/**", api)
    page.route(re.compile(rf"^{re.escape(SITE)}/(?!api/).*"), site)
    page.route(f"{COGNITO}/oauth2/authorize**", authorize)
    page.route(f"{COGNITO}/oauth2/token", token)

    page.goto(f"{SITE}/")
    expect(page.get_by_role("region", name="Text to classify")).to_have_text("hello <b>world</b>")
    expect(page.locator("#who")).to_have_text("Signed in as ana@example.org")
    assert urlsplit(page.url).query == "", "code and state must leave the address bar"

    (query,) = seen["authorize"]
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{SITE}/"] and query["scope"] == ["openid email"]
    assert query["code_challenge_method"] == ["S256"]
    form = seen["token"][0]
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["the-code"]
    assert form["client_id"] == [CLIENT_ID] and form["redirect_uri"] == [f"{SITE}/"]
    verifier = form["code_verifier"][0]
    assert 43 <= len(verifier) <= 128
    assert query["code_challenge"] == [b64url(hashlib.sha256(verifier.encode()).digest())]
    assert seen["api"] and set(seen["api"]) == {f"Bearer {id_token}"}, "the ID token, not the access token"

    # A 401 right after signing in: no automatic round trip (it would go round in circles), a button.
    api_status["code"] = 401
    page.reload()
    expect(page.locator("#view-message")).to_contain_text("refused the sign-in")
    assert len(seen["authorize"]) == 1
    page.get_by_role("button", name="Sign in again").click()
    expect(page.get_by_role("region", name="Text to classify")).to_be_visible()
    assert len(seen["authorize"]) == 2

    # Later (the ID token has expired, no refresh token): a 401 goes straight back to the hosted UI.
    page.evaluate("sessionStorage.setItem('autolabel.signedInAt', '0')")
    api_status["code"] = 401
    page.reload()
    expect(page.get_by_role("region", name="Text to classify")).to_be_visible()
    assert len(seen["authorize"]) == 3

    # With a refresh token, a refused ID token is renewed at the token endpoint, no hosted UI.
    page.evaluate("""() => {
        const s = JSON.parse(sessionStorage.getItem('autolabel.session'));
        s.refreshToken = 'the-refresh-token';
        sessionStorage.setItem('autolabel.session', JSON.stringify(s));
    }""")
    refused.add(f"Bearer {id_token}")
    page.reload()
    expect(page.get_by_role("region", name="Text to classify")).to_be_visible()
    assert len(seen["authorize"]) == 3
    assert seen["token"][-1] == {"grant_type": ["refresh_token"], "client_id": [CLIENT_ID],
                                 "refresh_token": ["the-refresh-token"]}
    assert seen["api"][-1] == f"Bearer {refreshed_token}"



# ------------------------------------------------------------------------------------ whole jobs


def _output_manifest(site, job: str) -> list[dict]:
    body = boto3.client("s3").get_object(Bucket=site.cloud.bucket,
                                         Key=f"jobs/{job}/output/manifests/output/output.manifest")["Body"].read()
    return [json.loads(line) for line in body.decode().split("\n") if line]


def expect_counted(page, answers: int) -> None:
    """The page says the worker's count in this job after an answer.

    Announced, not only shown: after a job's last answer the page moves on by itself to the
    other job with open tasks, whose counter (#mine, per job) starts at 0, sometimes before a
    look at #mine would see the finished job's count (a fresh-clone CI run failed so).
    """
    expect(page.locator("#live")).to_contain_text(f"You have labeled {answers} in this job.")


def test_a_person_labels_whole_image_and_box_jobs_and_each_job_completes(labeling_site, new_page):
    """By mouse: every image of the classification job by its class button, every scene of the
    detection job by drawing one box; the workflow moves on and both jobs end with those labels."""
    page = new_page()
    jobs = labeling_site.jobs
    open_job(page, labeling_site, 30, "image-classification")
    classes, given = class_names(page), []
    for n in range(labeling_site.items[jobs["image-classification"]]):
        wait_ready(page)
        given.append(classes[n % len(classes)])
        page.get_by_role("button", name=given[-1], exact=True).click()
        expect_counted(page, n + 1)
    assert labeling_site.wait_for_job(jobs["image-classification"]) == "SUCCEEDED"
    out = _output_manifest(labeling_site, jobs["image-classification"])
    assert sorted(line["label-metadata"]["class-name"] for line in out) == sorted(given)
    assert all(line["label-metadata"]["human-annotated"] == "yes" for line in out)

    page = new_page()
    open_job(page, labeling_site, 31, "object-detection")
    boxes = labeling_site.items[jobs["object-detection"]]
    for n in range(boxes):
        wait_ready(page)
        img = page.get_by_role("img", name="Image to label with boxes")
        img.scroll_into_view_if_needed()
        bb = img.bounding_box()
        drag(page, (bb["x"] + 0.2 * bb["width"], bb["y"] + 0.2 * bb["height"]),
             (bb["x"] + 0.6 * bb["width"], bb["y"] + 0.7 * bb["height"]))
        expect(page.locator(".box-list > li")).to_have_count(1)
        page.keyboard.press("Enter")
        expect_counted(page, n + 1)  # a count per job
    # The text job is the one left with open tasks: the page moves on to it, and says so.
    expect(page.locator("#notice")).to_have_text(
        f"There are no more tasks for you in {jobs['object-detection']} right now, so this one is from "
        f"{jobs['text-classification']}.")
    expect(page.locator("#job-title")).to_have_text(jobs["text-classification"])
    expect(page.locator("#mine")).to_have_text("0")
    assert labeling_site.wait_for_job(jobs["object-detection"]) == "SUCCEEDED"
    out = _output_manifest(labeling_site, jobs["object-detection"])
    assert len(out) == boxes
    assert all(len(line["label"]["annotations"]) == 1 for line in out), out[0]
    assert all(line["label-metadata"]["human-annotated"] == "yes" for line in out)
