"""The audit (job.json's AuditSampleSize): humans check a uniform random sample of the machine labels.

Once the loop has ended (every item labeled, or a stopping condition ended it), SelectAudit draws
min(AuditSampleSize, machine labels) of the job's machine labels, uniformly and without
replacement (Algorithm R over the machine-label files, seeded by job.json's Seed), and sends them
to humans as one more human batch: the same PublishHumanTasks, task API and worker-response path
as every other batch, in an iteration of its own (so its answers are kept and counted as any
batch's are). ConsolidateAudit consolidates the answers as ConsolidateAnnotations does (majority
vote, or box consolidation, over NumberOfHumanWorkersPerDataObject workers) and scores each
machine label against its human label with the score the calibration uses (label_kinds.py's
`calibration_score`): right or wrong for a class, the image quality of box_metric.py for boxes.

What the interval says: the audit's items are a uniform sample of the machine labels as the loop
produced them, so the score's mean over the sample estimates their accuracy (mean image quality
for boxes) over all of them, and the two-sided interval at the job's ConfidenceLevel covers it
with at least that probability over the draw of the sample:
  * classes: the exact Clopper-Pearson interval of the agreements (each side at (1 - level) / 2,
    threshold.py's one-sided bound on the agreements and on the disagreements);
  * boxes: the betting bound of bounded_mean.py on the scores for the lower side and on 1 - the
    scores for the upper side, each at (1 - level) / 2.
Both bounds are derived for independent draws; the sample is drawn without replacement from a
finite set of labels, which makes the count of agreements hypergeometric, less spread than the
binomial the bounds assume, and tests/unit/test_audit.py checks the coverage by simulation of
such draws (small sets, half the set sampled, accuracies near 0 and 1).

The interval is about the loop's machine labels before the audit: the audited items leave the
machine labels (their human labels replace them in the output manifest and the counters), so the
output's remaining machine labels are those minus a uniform sample, with the same accuracy in
expectation.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from labeling.logic.bounded_mean import mean_lower_bound
from labeling.logic.label_kinds import BoundingBoxes, Classification
from labeling.logic.sampling import reservoir_sample
from labeling.logic.threshold import clopper_pearson_lower

# A batch item's role (logic/batches.py names the loop's: calibration, ambiguous, ...).
AUDIT = "audit"

NO_MACHINE_LABELS = "no machine labels to audit"
NOT_FINISHED = ("the job ended before its audit was consolidated; resuming the job finishes the audit, "
                "and the answers given so far are kept and not asked again")
INTERVAL_IS_ABOUT = (
    "the machine labels as the labeling loop produced them, before the audit replaced the audited ones "
    "with human labels; the audit's sample is uniform over them"
)
METHODS = {
    "accuracy": "Clopper-Pearson exact interval of the agreements, two-sided",
    "mean IoU": "betting confidence bounds of a [0, 1] mean (bounded_mean.py), two-sided",
}


def audit_rng(seed: int) -> random.Random:
    """The audit's own stream of the job's Seed: its sample does not move when the loop's batches do."""
    return random.Random(f"autolabel:{seed}:audit")


def audit_sample(machine_labels: Iterable[dict[str, Any]], size: int, rng: random.Random) -> list[dict[str, Any]]:
    """A uniform random sample, without replacement, of min(size, count) machine-label records, id-ordered."""
    return sorted(reservoir_sample(machine_labels, size, rng), key=lambda record: record["id"])


def checked_label(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit keeps of a machine label: the label and its confidences, not when it was made (so the
    audit's batch is the same file whenever the job runs, as every human batch is)."""
    return {key: value for key, value in record.items() if key not in ("id", "human", "createdAt")}


def clopper_pearson_interval(successes: int, trials: int, confidence_level: float) -> tuple[float, float]:
    """Exact two-sided interval for a binomial proportion: each side misses with probability (1 - level) / 2."""
    if trials <= 0:
        return 0.0, 1.0
    alpha = (1.0 - confidence_level) / 2
    return (clopper_pearson_lower(successes, trials, alpha),
            1.0 - clopper_pearson_lower(trials - successes, trials, alpha))


def bounded_mean_interval(values: Sequence[float], confidence_level: float) -> tuple[float, float]:
    """Two-sided interval for the mean of [0, 1] scores: the betting lower bound of the scores and of 1 - them."""
    if not values:
        return 0.0, 1.0
    alpha = (1.0 - confidence_level) / 2
    return mean_lower_bound(values, alpha), 1.0 - mean_lower_bound([1.0 - x for x in values], alpha)


def score(kind: Classification | BoundingBoxes, machine: Mapping[str, Any], human: Mapping[str, Any]) -> float:
    """How well a machine label agrees with the human label of its item: 1 or 0 for a class (the same class
    or not), the image quality of the machine boxes against the human boxes (box_metric.py)."""
    return float(kind.calibration_score(human["label"], machine))


def audit_summary(kind: Classification | BoundingBoxes, scores: Sequence[float], *, iteration: int,
                  machine_labeled: int, confidence_level: float, human_answers: int,
                  price_per_answer: float) -> dict[str, Any]:
    """audit.json: what the audit found about the loop's `machine_labeled` machine labels, and its cost."""
    n = len(scores)
    if kind.measure == "accuracy":
        agreed: int | None = sum(1 for value in scores if value >= 1.0)
        low, high = clopper_pearson_interval(agreed or 0, n, confidence_level)
        mean_quality = None
    else:
        agreed = None
        mean_quality = sum(scores) / n if n else None
        low, high = bounded_mean_interval(scores, confidence_level)
    return {
        "iteration": iteration,
        "sampleSize": n,
        "machineLabeled": machine_labeled,
        "measure": kind.measure,
        "agreed": agreed,
        "meanImageQuality": mean_quality,
        "estimate": sum(scores) / n if n else None,
        "confidenceLevel": confidence_level,
        "lowerBound": low,
        "upperBound": high,
        "method": METHODS[kind.measure],
        "intervalIsAbout": INTERVAL_IS_ABOUT,
        # The audited items are human labels in the output manifest now.
        "replacedMachineLabels": n,
        "humanAnswers": human_answers,
        "humanPricePerAnswerUSD": price_per_answer,
        "costUSD": round(human_answers * price_per_answer, 4),
    }


def audit_section(requested: int, summary: Mapping[str, Any] | None, machine_labeled: int) -> dict[str, Any] | None:
    """report.json's `audit`: None when job.json asked for none; the audit's figures once it is done;
    otherwise why there are none (`machine_labeled`: the loop's machine labels)."""
    if requested <= 0:
        return None
    if summary is not None:
        return {"requested": requested, "status": "Completed", **summary}
    if not machine_labeled:
        return {"requested": requested, "status": "Skipped", "reason": NO_MACHINE_LABELS, "sampleSize": 0}
    return {"requested": requested, "status": "NotFinished", "reason": NOT_FINISHED, "sampleSize": 0}


def replaced_by_audit(records: Iterable[dict[str, Any]], audited: set[int]) -> Iterable[dict[str, Any]]:
    """The loop's label records less the machine labels the audit's human labels replace."""
    return (record for record in records if record["human"] or record["id"] not in audited)
