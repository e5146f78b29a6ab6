"""The report's plot: accuracy against coverage on the calibration sets (logic/report_plot.py)."""

import io
import random

import pytest
from PIL import Image

from labeling.logic.label_kinds import Classification
from labeling.logic.report_plot import (
    CHOSEN_THRESHOLD,
    DPI,
    HEIGHT_IN,
    WIDTH_IN,
    accuracy_coverage_figure,
    accuracy_coverage_png,
    png,
)
from labeling.models.job import JobConfig

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def threshold_details(seed: int, skill: float, size: int = 400) -> dict:
    """threshold.json as ComputeThreshold writes it, for a calibrated model: the higher its skill,
    the more of its confidences are near 1, and each label is right with its confidence."""
    rng = random.Random(seed)
    calibration = []
    for _ in range(size):
        confidence = rng.betavariate(skill, 1)
        calibration.append((confidence, rng.random() < confidence))
    settings = JobConfig(TaskType="image-classification", TargetAccuracy=0.95, ConfidenceLevel=0.95)
    return Classification().choose_threshold(calibration, settings).as_json()


@pytest.fixture(scope="module")
def details():
    return {0: threshold_details(0, skill=2), 1: threshold_details(1, skill=8), 2: threshold_details(2, skill=20)}


def test_is_a_png_of_the_stated_size(details):
    image = accuracy_coverage_png(details, 0.95, 0.95)
    assert image.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(image)) as decoded:
        assert decoded.format == "PNG"
        assert decoded.size == (int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI))


def test_one_accuracy_line_per_iteration_with_its_bound(details):
    (axes,) = accuracy_coverage_figure(details, 0.95, 0.95).axes
    labels = [line.get_label() for line in axes.get_lines()]
    for k, detail in details.items():
        assert f"iteration {k} (calibration set of {detail['calibration_size']})" in labels
        (line,) = [line for line in axes.get_lines() if line.get_label().startswith(f"iteration {k} ")]
        assert list(line.get_xdata()) == [point["coverage"] for point in detail["curve"]]
        assert list(line.get_ydata()) == [point["value"] for point in detail["curve"]]
        bounds = [line for line in axes.get_lines() if list(line.get_ydata()) ==
                  [point["lower_bound"] for point in detail["curve"]]]
        assert bounds and bounds[0].get_linestyle() == "--"


def test_marks_the_chosen_threshold_where_it_sits_on_the_curve(details):
    (axes,) = accuracy_coverage_figure(details, 0.95, 0.95).axes
    marks = {line.get_label(): line for line in axes.get_lines() if line.get_label().startswith(CHOSEN_THRESHOLD)}
    chosen = {k: d for k, d in details.items() if d["threshold"] is not None}
    assert chosen, "the fixture should hold at least one iteration whose threshold passed"
    assert set(marks) == {f"{CHOSEN_THRESHOLD}, iteration {k}" for k in chosen}
    for k, detail in chosen.items():
        mark = marks[f"{CHOSEN_THRESHOLD}, iteration {k}"]
        assert list(mark.get_xdata()) == [detail["accepted"] / detail["calibration_size"]]
        assert list(mark.get_ydata()) == [detail["estimate"]]
        texts = [text.get_text() for text in axes.texts]
        assert f"t = {detail['threshold']:g}" in texts


def test_an_iteration_where_no_threshold_passed_has_a_line_but_no_mark(details):
    assert details[0]["threshold"] is None, "the weak model of iteration 0 should not pass"
    (axes,) = accuracy_coverage_figure(details, 0.95, 0.95).axes
    labels = [line.get_label() for line in axes.get_lines()]
    assert any(label.startswith("iteration 0 ") for label in labels)
    assert f"{CHOSEN_THRESHOLD}, iteration 0" not in labels


def test_target_accuracy_is_a_horizontal_line(details):
    (axes,) = accuracy_coverage_figure(details, 0.97, 0.9).axes
    (target,) = [line for line in axes.get_lines() if line.get_label() == "target accuracy 97%"]
    assert list(target.get_ydata()) == [0.97, 0.97]
    assert "90% confidence" in axes.get_title()


def test_a_job_without_models_still_gets_a_plot_that_says_so():
    figure = accuracy_coverage_figure({}, 0.95, 0.95)
    (axes,) = figure.axes
    assert [text.get_text() for text in axes.texts] == ["no model was trained: humans labeled every item"]
    assert png(figure).startswith(PNG_SIGNATURE)


# threshold.json as ComputeThreshold wrote it before one decision type served both searches
# (logic/threshold_decision.py): every number a second time under its kind's name. A job resumed across
# that change still holds such files, and WriteOutput draws them.
OLD_FORMAT = {
    "threshold": 0.9, "target_accuracy": 0.95, "confidence_level": 0.95, "calibration_size": 100,
    "accepted": 60, "correct": 60, "lower_bound": 0.9513, "alpha": 0.05, "estimated_accuracy": 1.0,
    "measure": "accuracy", "estimate": 1.0,
    "steps": [{"threshold": 0.95, "accepted": 59, "correct": 59, "lower_bound": 0.9505, "required": 0.95},
              {"threshold": 0.9, "accepted": 60, "correct": 60, "lower_bound": 0.9513, "required": 0.95},
              {"threshold": 0.85, "accepted": 80, "correct": 70, "lower_bound": 0.7955, "required": 0.95}],
    "curve": [
        {"threshold": 0.99, "accepted": 20, "correct": 20, "coverage": 0.2, "accuracy": 1.0, "lower_bound": 0.8609,
         "value": 1.0},
        {"threshold": 0.9, "accepted": 60, "correct": 60, "coverage": 0.6, "accuracy": 1.0, "lower_bound": 0.9513,
         "value": 1.0},
        {"threshold": 0.85, "accepted": 80, "correct": 70, "coverage": 0.8, "accuracy": 0.875, "lower_bound": 0.7955,
         "value": 0.875},
        {"threshold": 0.5, "accepted": 100, "correct": 80, "coverage": 1.0, "accuracy": 0.8, "lower_bound": 0.7261,
         "value": 0.8},
    ],
}


def test_an_old_threshold_json_with_its_duplicate_numbers_is_still_drawn():
    (axes,) = accuracy_coverage_figure({0: OLD_FORMAT}, 0.95, 0.95).axes
    (line,) = [line for line in axes.get_lines() if line.get_label() == "iteration 0 (calibration set of 100)"]
    assert list(line.get_xdata()) == [0.2, 0.6, 0.8, 1.0]
    assert list(line.get_ydata()) == [1.0, 1.0, 0.875, 0.8]
    assert any(list(bound.get_ydata()) == [0.8609, 0.9513, 0.7955, 0.7261] and bound.get_linestyle() == "--"
               for bound in axes.get_lines())
    (mark,) = [line for line in axes.get_lines() if line.get_label() == f"{CHOSEN_THRESHOLD}, iteration 0"]
    assert (list(mark.get_xdata()), list(mark.get_ydata())) == ([0.6], [1.0])
    assert png(accuracy_coverage_figure({0: OLD_FORMAT}, 0.95, 0.95)).startswith(PNG_SIGNATURE)


def test_old_and_new_threshold_json_are_drawn_side_by_side(details):
    """A resumed job: iterations before the change in the old shape, those after it in the new one."""
    mixed = {0: OLD_FORMAT, 1: details[1], 2: details[2]}
    labels = [line.get_label() for line in accuracy_coverage_figure(mixed, 0.95, 0.95).axes[0].get_lines()]
    assert all(f"iteration {k} (calibration set of {d['calibration_size']})" in labels for k, d in mixed.items())
