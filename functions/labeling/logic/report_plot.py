"""The report's plot: the promise's measure against coverage on each iteration's calibration set.

The measure is accuracy for classes and mean IoU (image quality) for boxes, as
threshold.json names it. One line per iteration from ComputeThreshold's curve, its
lower confidence bound dashed beside it, the chosen threshold marked, the target as
a horizontal line. A reader sees how much of the pool the model could have labeled
at each level, and where the promise put the cut.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where it is used: see accuracy_coverage_figure
    from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 9.0, 6.0, 100
CHOSEN_THRESHOLD = "chosen threshold"  # the label of the markers, found by it in tests


def accuracy_coverage_figure(
    details: dict[int, dict[str, Any]], target: float, confidence_level: float, measure: str = "accuracy",
) -> Figure:
    """details: iteration -> threshold.json. Returns a matplotlib Figure (no pyplot, no global state)."""
    # Imported here: matplotlib reaches Lambda in a layer on WriteOutput only, and a
    # missing plot must cost the plot, not the job (handlers/write_output.py).
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.axhline(target, color="black", linewidth=1, linestyle=":", label=f"target {measure} {_level(target, measure)}")
    # One color per iteration, shared by its accuracy line, its bound and its marker.
    cycle = [f"C{i % 10}" for i in range(len(details))]
    for color, (k, detail) in zip(cycle, sorted(details.items()), strict=True):
        curve = detail.get("curve") or []
        if not curve:
            continue
        coverage = [point["coverage"] for point in curve]
        axes.plot(coverage, [point["value"] for point in curve], color=color, linewidth=1.5,
                  label=f"iteration {k} (calibration set of {detail['calibration_size']})")
        axes.plot(coverage, [point["lower_bound"] for point in curve], color=color, linewidth=1, linestyle="--")
        chosen = _chosen_point(detail)
        if chosen is not None:
            axes.plot([chosen["coverage"]], [chosen["value"]], marker="o", markersize=8, color=color,
                      markeredgecolor="black", linestyle="none", label=f"{CHOSEN_THRESHOLD}, iteration {k}")
            near_right_edge = chosen["coverage"] > 0.85  # the label goes left of the mark, inside the axes
            axes.annotate(f"t = {chosen['threshold']:g}", (chosen["coverage"], chosen["value"]),
                          textcoords="offset points", xytext=(-8 if near_right_edge else 8, -14),
                          ha="right" if near_right_edge else "left", fontsize=8)
    if not any(detail.get("curve") for detail in details.values()):
        axes.text(0.5, 0.5, "no model was trained: humans labeled every item", ha="center", va="center",
                  transform=axes.transAxes)
    axes.set_xlim(0, 1.02)
    axes.set_ylim(_lowest(details, target), 1.005)
    axes.set_xlabel("coverage: share of the calibration set at or above the threshold")
    axes.set_ylabel(f"{measure} of those items (dashed: lower bound)")
    axes.set_title(f"{measure[0].upper() + measure[1:]} against coverage on each iteration's calibration set "
                   f"(bounds at {confidence_level:.0%} confidence)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=8)
    return figure


def _chosen_point(detail: dict[str, Any]) -> dict[str, float] | None:
    """Where the chosen threshold sits on the curve; None when no threshold passed."""
    if detail.get("threshold") is None or not detail.get("accepted"):
        return None
    return {"threshold": detail["threshold"], "coverage": detail["accepted"] / detail["calibration_size"],
            "value": detail["estimate"]}


def _level(value: float, measure: str) -> str:
    return f"{value:.0%}" if measure == "accuracy" else f"{value:.2f}"


def _lowest(details: dict[int, dict[str, Any]], target: float) -> float:
    """Bottom of the value axis: every value, and every bound the threshold search tested or could have.

    Bounds over fewer items than the search starts at plunge towards 0 at the left end of
    the curve; they would squash the rest of the plot and are cut off instead.
    """
    values = []
    for detail in details.values():
        steps = detail.get("steps") or []
        testable = steps[0]["accepted"] if steps else float("inf")
        for point in detail.get("curve") or []:
            values += [point["value"], point["lower_bound"] if point["accepted"] >= testable else 1.0]
    return max(0.0, min([target - 0.05, *values]) - 0.02)


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def accuracy_coverage_png(
    details: dict[int, dict[str, Any]], target: float, confidence_level: float, measure: str = "accuracy",
) -> bytes:
    return png(accuracy_coverage_figure(details, target, confidence_level, measure))
