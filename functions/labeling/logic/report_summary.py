"""report.md: report.json for a person to read (a table per iteration, the promise in words, the cost).

Rendered from report.json alone, so the two cannot disagree.
"""

from __future__ import annotations

import json
from typing import Any

NONE = "–"


def _count(n: int) -> str:
    return f"{n:,}"


def _percent(x: float | None, digits: int = 1) -> str:
    return NONE if x is None else f"{x:.{digits}%}"


def _usd(x: float) -> str:
    return f"${x:,.2f}"


def _price(x: float) -> str:
    # Prices keep their digits ($0.408 per hour); amounts are rounded to cents.
    return f"${x:g}"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole else NONE


def _level(x: float | None, measure: str) -> str:
    """Accuracy as a percentage; a mean IoU as the number it is (0.72), as detection papers write it."""
    if measure == "accuracy" or x is None:
        return _percent(x)
    return f"{x:.3f}"


def _promise(report: dict[str, Any]) -> str:
    promise, machine = report["promise"], report["counters"]["MachineLabeled"]
    measure, confidence = promise["measure"], _percent(promise["confidenceLevel"], 0)
    target = _percent(promise["target"], 0) if measure == "accuracy" else f"{promise['target']:g}"
    goal = f"at least {target} correct" if measure == "accuracy" else f"a mean IoU of at least {target}"
    if not machine:
        labeled = "none so far" if report["counters"]["Unlabeled"] else "none; humans labeled every item"
        return f"Machine labels: {labeled}. (Target: {goal} with {confidence} confidence.)"
    estimated = (f"estimated {_percent(promise['machineLabelsEstimated'])} correct, at least "
                 f"{_percent(promise['lowestIterationLowerBound'])}" if measure == "accuracy" else
                 f"estimated mean IoU {_level(promise['machineLabelsEstimated'], measure)}, at least "
                 f"{_level(promise['lowestIterationLowerBound'], measure)}")
    if promise.get("kept", "EachIteration") != "EachIteration":
        return _job_level(promise, machine, target, confidence)
    return (f"Machine labels: {_count(machine)} items, {estimated} with {confidence} confidence "
            f"per iteration (target {target}). Each iteration's threshold was chosen on a fresh random "
            f"calibration sample labeled by humans, so that bound holds for the pool it was applied to.")


def _job_level(promise: dict[str, Any], machine: int, target: str, confidence: str) -> str:
    """A job-level promise (job.json Promise; logic/promise.py): what it certifies, and its cost in coverage."""
    kept, measure = promise["kept"], promise["measure"]
    whom, reach = (("all the job's machine labels together", "reach") if kept == "AllMachineLabels" else
                   ("the whole output data set (human labels counted as right)", "reaches"))
    estimate = _level(promise["machineLabelsEstimated"], measure)
    would, got = promise["eachIterationWouldHaveLabeled"], promise["certifiedMachineLabels"]
    difference = (f"{_count(would - got)} fewer machine labels" if would > got else
                  f"{_count(got - would)} more machine labels" if got > would else "as many machine labels")
    lost = "errors" if measure == "accuracy" else "IoU lost"
    return (f"Promise kept ({kept}): {whom} {reach} {target} with {confidence} confidence; each iteration's "
            f"test spent a share of that confidence. Machine labels: {_count(machine)} items ({estimate} "
            f"on their calibration items). Certified: at most {promise['errorBound']:.1f} {lost} among the "
            f"{_count(got)} machine labels the loop accepted, so {whom} {reach} at least "
            f"{_level(promise['certifiedLowerBound'], measure)}. The per-iteration promise would have labeled "
            f"{_count(would)} items in the same iterations with the same models: {difference}.")


def _overall(promise: dict[str, Any]) -> str:
    humans = "human labels as correct" if promise["measure"] == "accuracy" else "human boxes as exact (IoU 1)"
    return (f"Counting {humans}, the estimated {promise['measure']} of all labels is "
            f"{_level(promise['overallEstimated'], promise['measure'])}.")


def _audit(report: dict[str, Any]) -> list[str]:
    """The audit's paragraph, under the promise (job.json's AuditSampleSize; nothing when it is 0)."""
    audit = report.get("audit")
    if not audit:
        return []
    if audit["status"] != "Completed":
        return ["", f"Audit: {audit['reason']}."]
    measure, n = audit["measure"], audit["sampleSize"]
    agreed = (f"humans agreed with {_count(audit['agreed'])} of them" if measure == "accuracy" else
              f"their mean image quality against the human boxes is {_level(audit['meanImageQuality'], measure)}")
    return ["", (
        f"Audit: humans checked {_count(n)} machine labels drawn uniformly at random from the "
        f"{_count(audit['machineLabeled'])} the loop produced; {agreed}. Estimated {measure} of those machine "
        f"labels: {_level(audit['estimate'], measure)}, between {_level(audit['lowerBound'], measure)} and "
        f"{_level(audit['upperBound'], measure)} with {_percent(audit['confidenceLevel'], 0)} confidence "
        f"({audit['method']}). The interval is about {audit['intervalIsAbout']}. The audited items are human "
        f"labels in the output. The audit cost {_count(audit['humanAnswers'])} human answers, "
        f"{_usd(audit['costUSD'])} (in the cost below)."
    )]


def _out_of_reach(report: dict[str, Any]) -> list[str]:
    """The paragraph on a target out of the model's reach (report.json's outOfReach); nothing when not."""
    declared = report.get("outOfReach")
    if not declared:
        return []
    measure, k = declared["measure"], declared["iteration"]
    setting = "TargetAccuracy" if measure == "accuracy" else "TargetMeanIoU"
    confidence = _percent(report["promise"]["confidenceLevel"], 0)
    upper = declared.get("highestUpperBound")
    text = (f"**The target looked out of reach.** For {declared['iterations']} iterations in a row, up to iteration "
            f"{k}, the calibration curve put the target {measure} of {_level(declared['target'], measure)} out of "
            "the model's reach: ")
    text += (f"wherever enough calibration items lay to certify anything, its {measure} was at most "
             f"{_level(upper, measure)} ({confidence} upper confidence bound). " if upper is not None else "")
    lower = declared.get("reachableTarget")
    text += (f"A {setting} of {_level(lower, measure)} would have labeled about "
             f"{_percent(declared['reachableShare'], 0)} of the pool. " if lower is not None else
             f"No {setting} down to the lowest tried would have labeled anything. ")
    if declared["trainingStopped"]:
        text += (f"Training stopped (StopTrainingWhenOutOfReach): no model was trained after iteration {k}, and "
                 f"humans labeled the {_count(declared['humanLabeledAfter'])} items left in plain batches.")
    else:
        text += (f"StopTrainingWhenOutOfReach was off, so the job went on training: "
                 f"{_count(declared['modelsTrainedAfter'])} more model(s) after iteration {k}, "
                 f"{declared['trainingSecondsAfter'] + declared['transformSecondsAfter']:,.0f} s of SageMaker time "
                 f"({_usd(declared['sageMakerUSDAfter'])}), which machine-labeled "
                 f"{_count(declared['machineLabeledAfter'])} items.")
    return ["", text]


def _iteration_table(report: dict[str, Any]) -> list[str]:
    measure = report["promise"]["measure"]
    lines = [
        f"| iteration | human labeled | of which calibration | machine labeled | threshold | estimated {measure} "
        "| lower bound | calibration accepted | left unlabeled | training s | transform s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["iterations"]:
        threshold = row["threshold"]
        if threshold is None:
            decision = ["no model", NONE, NONE, NONE]
        elif threshold["value"] is None:
            decision = ["none passed", NONE, NONE, f"0 / {_count(threshold['calibrationSize'])}"]
        else:
            decision = [f"{threshold['value']:g}", _level(threshold["estimate"], measure),
                        _level(threshold["lowerBound"], measure),
                        f"{_count(threshold['calibrationAccepted'])} / {_count(threshold['calibrationSize'])}"]
        lines.append("| " + " | ".join([
            str(row["iteration"]), _count(row["humanLabeled"]), _count(row["calibrationSampleSize"]),
            _count(row["machineLabeled"]), *decision, _count(row["leftUnlabeled"]),
            f"{row['trainingSeconds']:,.0f}", f"{row['transformSeconds']:,.0f}",
        ]) + " |")
    totals = report["totals"]
    lines.append("| **total** | " + " | ".join([
        f"**{_count(totals['humanLabeled'])}**", _count(totals["calibrationSampleSize"]),
        f"**{_count(totals['machineLabeled'])}**", "", "", "", "", _count(report["counters"]["Unlabeled"]),
        f"{totals['trainingSeconds']:,.0f}", f"{totals['transformSeconds']:,.0f}",
    ]) + " |")
    return lines


def _cost_table(report: dict[str, Any]) -> list[str]:
    cost = report["cost"]
    lines = [
        "| what | quantity | price | USD |",
        "|---|---:|---:|---:|",
        f"| human answers | {_count(cost['humanAnswers'])} | {_price(cost['humanPricePerAnswerUSD'])} each "
        f"| {_usd(cost['humanUSD'])} |",
    ]
    for use in cost["instances"]:
        lines.append(f"| {use['job']} on {use['instanceType']} | {use['instanceHours']:.2f} instance-hours "
                     f"| {_price(use['onDemandUSDPerHour'])} per hour | {_usd(use['costUSD'])} |")
    lines.append(f"| **this job** | | | **{_usd(cost['totalUSD'])}** |")
    lines.append(f"| every item labeled by hand | {_count(cost['allHumanAnswers'])} answers "
                 f"| {_price(cost['humanPricePerAnswerUSD'])} each | {_usd(cost['allHumanUSD'])} |")
    return lines


def _savings(cost: dict[str, Any]) -> str:
    saved = cost["savedUSD"]
    if saved >= 0:
        return f"Saved against labeling every item by hand: {_usd(saved)} ({_share(saved, cost['allHumanUSD'])})."
    return f"This job cost {_usd(-saved)} more than labeling every item by hand would have."


# How many invalid lines report.md lists (report.json lists more, the output manifest all).
MAX_SHOWN_INVALID_LINES = 100


def _invalid_lines(report: dict[str, Any]) -> list[str]:
    """The input lines no one labels, by line number and reason; nothing when there are none."""
    invalid = report.get("invalidLines") or {"count": 0, "listed": []}
    if not invalid["count"]:
        return []
    shown = invalid["listed"][:MAX_SHOWN_INVALID_LINES]
    lines = [
        "", "## Invalid input lines", "",
        f"{_count(invalid['count'])} line(s) of the input manifest could not be labeled and were skipped: "
        "they are in the output manifest as input, with the reason as `failure-reason`, and count as "
        "FailedNonRetryableError.", "",
        "| line | reason |", "|---:|---|",
        *(f"| {row['line']} | {row['reason'].replace('|', '&#124;')} |" for row in shown),
    ]
    if invalid["count"] > len(shown):
        lines += ["", f"... and {_count(invalid['count'] - len(shown))} more (every one is in the output manifest)."]
    return lines


def _ended_early(report: dict[str, Any]) -> list[str]:
    """A failed or stopped job: why, and that resuming it continues where it was."""
    if report["status"] == "Failed":
        failure = report.get("failure") or {}
        cause = failure.get("cause")
        cause = cause if isinstance(cause, str) else json.dumps(cause)
        return ["", f"**The job failed** ({failure.get('error')}): {cause}",
                "", "Everything labeled so far is above and in the output manifest; resuming the job "
                "continues from its last step."]
    if report["status"] == "Stopped" and report.get("stopReason") == "StopRequested":
        return ["", "**The job was stopped.** Everything labeled so far is in the output manifest; resuming the "
                "job continues from its last step."]
    return []


def _final_model(report: dict[str, Any]) -> list[str]:
    """The model report.json names as finalActiveLearningModel, and where the initial model labeled."""
    model = report.get("finalActiveLearningModel")
    if model is None:
        why = "the job labeled by humans only" if not report["automatedLabeling"] else "the job ended before one"
        lines = [f"None: no model was trained ({why})."]
    else:
        lines = [f"`{model['modelName']}`, the model of iteration {model['iteration']} "
                 f"({model['taskType']}, served on {model['inferenceInstanceType']}): `{model['modelArn']}`, "
                 f"its artifact `{model['modelArtifacts']}`.", "",
                 f"Deploy it with `autolabel model deploy {report['job']}`; a later job of the same task type and "
                 f"labels starts from it with `\"InitialActiveLearningModelArn\": \"{model['modelArn']}\"` in its "
                 "job.json."]
    initial = [row["iteration"] for row in report["iterations"] if row.get("initialModel")]
    if initial:
        arn = (report.get("settings") or {}).get("InitialActiveLearningModelArn")
        lines += ["", f"Iteration {', '.join(map(str, initial))} labeled with the initial model `{arn}` "
                      "(job.json's InitialActiveLearningModelArn) instead of training one; its threshold was "
                      "calibrated on this job's human labels like any other."]
    return ["", "## Final model", "", *lines]


def markdown(report: dict[str, Any], plot: str | None = None) -> str:
    """plot: the PNG's path relative to report.md, or None when there is no plot."""
    counters, cost = report["counters"], report["cost"]
    total = counters["TotalLabeled"] + counters["Unlabeled"]
    status = report["status"] + (f" ({report['stopReason']})" if report.get("stopReason") else "")
    lines = [
        f"# Labeling job {report['job']}: {status}",
        "",
        f"{report['taskType']}, label attribute `{report['labelAttributeName']}`, "
        f"{'automated labeling' if report['automatedLabeling'] else 'human labeling only'}. "
        f"{_count(total)} items: {_count(counters['HumanLabeled'])} labeled by humans "
        f"({_share(counters['HumanLabeled'], total)}), {_count(counters['MachineLabeled'])} by the model "
        f"({_share(counters['MachineLabeled'], total)}), {_count(counters['Unlabeled'])} left unlabeled."
        + (f" {_count(counters['FailedNonRetryableError'])} invalid input line(s) skipped (below)."
           if counters.get("FailedNonRetryableError") else ""),
        *_invalid_lines(report),
        *_ended_early(report),
        "",
        f"## The {report['promise']['measure']} promise",
        "",
        _promise(report),
        *([_overall(report["promise"])] if report["counters"]["TotalLabeled"] else []),
        *_audit(report),
        *_out_of_reach(report),
        "",
        "## Iterations",
        "",
        *_iteration_table(report),
        "",
        "Calibration accepted: calibration items at or above the threshold, of the calibration sample.",
        *_final_model(report),
        "",
        "## Cost estimate",
        "",
        *_cost_table(report),
        "",
        _savings(cost),
        f"Instance-hours are {cost['instanceHoursAre']}.",
    ]
    if plot:
        title = f"{report['promise']['measure'][0].upper()}{report['promise']['measure'][1:]} against coverage"
        lines += ["", f"## {title}", "", f"![{title}]({plot})"]
    return "\n".join(lines) + "\n"
