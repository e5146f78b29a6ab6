"""Which items each iteration sends to human workers.

Every batch of an automated job holds a uniform random calibration sample of
the items still unlabeled (for the threshold's bound) and, from the second
iteration on, the items the last model found most ambiguous (active learning).

A human budget (StoppingConditions.MaxHumanLabeledObjectCount, what is left of it)
cuts batches; the calibration sample is never cut or biased, since the threshold's
guarantee rests on it, so a budget too small to hold one ends the human batches.

How many calibration items a batch holds (calibration_sample_size): a fixed number, or with
CalibrationSampleSize "auto" a number sized to the pool the threshold will be applied to.
The guarantee does not change with the size as long as the size is fixed before any
calibration label is seen: here it depends on item counts only (the pool's size, the
settings), never on labels or on which items are drawn, and the sample stays a uniform
random sample of the items not yet labeled and not chosen as ambiguous. Given its size,
the threshold's bound holds for that sample exactly as for a fixed one (logic/threshold.py),
so each iteration's machine labels are below target with probability at most
1 - ConfidenceLevel, whatever rule chose the size (tests/unit/test_calibration_size.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from labeling.logic.sampling import most_ambiguous, reservoir_sample
from labeling.logic.threshold import min_trials_to_pass
from labeling.models.job import JobConfig

CALIBRATION, TRAIN = "calibration", "train"

# What ApplyThreshold adds to pool items for choosing the next batch; dropped afterwards.
SCORING_FIELDS = frozenset({"ambiguity", "sketch"})

Items = Callable[[], Iterable[dict[str, Any]]]  # re-opens a stream of items

AUTO = "auto"
# With "auto", a later batch's ambiguous part is MaxConcurrentTaskCount less this: what the default
# batch (150) left beside its fixed 100-item sample, so the default's ambiguous part stays 50 items
# (as good as 150 or better on BBC News and digits: benchmarks/README.md), and every job.json that
# was valid without CalibrationSampleSize (MaxConcurrentTaskCount above 100) stays valid with "auto".
AUTO_REFERENCE_SAMPLE = 100
# CalibrationSampleSize "auto": AUTO_SCALE * pool^(2/3) items, clamped to [AUTO_MIN, AUTO_MAX].
# Why pool^(2/3): the bound's margin shrinks as 1/sqrt(n), so the pool items a threshold loses
# to it go as pool/sqrt(n), while the calibration costs n labels; the sum is least at n ~ pool^(2/3).
AUTO_SCALE = 1.0
AUTO_MIN = 100
AUTO_MAX = 2_000
# The smallest pool worth a calibration sample, in calibration samples: below it, the few pool
# items left to certify do not pay for the sample, so humans label all that remains.
AUTO_MIN_POOL_RATIO = 2.0


def least_calibration(settings: JobConfig) -> int:
    """The fewest calibration items, all correct, that can pass the threshold's bound at all.

    From TargetAccuracy, so for boxes (whose bound is on mean IoU) only a floor; AUTO_MIN is
    above it at the defaults either way.
    """
    return min_trials_to_pass(settings.TargetAccuracy, 1.0 - settings.ConfidenceLevel)


def auto_calibration_size(pool: int) -> int:
    return max(AUTO_MIN, min(AUTO_MAX, round(AUTO_SCALE * pool ** (2 / 3))))


def calibration_sample_size(setting: int | str, pool: int, *, least: int = 0) -> int:
    """Calibration items for a threshold applied to `pool` items (the pool before the sample).

    A number is taken as it is. "auto" sizes it to the pool (auto_calibration_size), never
    below `least` (the fewest items that can pass the bound at all: min_trials_to_pass); 0 when the pool
    is too small for the sample to pay for itself (below AUTO_MIN_POOL_RATIO samples' worth).
    Counts only: the size never depends on labels, which keeps the threshold's guarantee.
    """
    if setting != AUTO:
        return int(setting)
    size = max(auto_calibration_size(pool), least)
    return size if pool >= AUTO_MIN_POOL_RATIO * size else 0


def iteration_rng(seed: int, iteration: int) -> random.Random:
    return random.Random(f"autolabel:{seed}:{iteration}")


def calibration_order_seed(seed: int, iteration: int) -> str:
    """The seed of iteration k's betting order (box_quality.betting_order): its own stream of the job's Seed,
    so that drawing it moves none of the samples."""
    return f"autolabel:{seed}:{iteration}:calibration-order"


def _unscored(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in SCORING_FIELDS}


def _with_role(items: Iterable[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    return [{**_unscored(item), "role": role} for item in items]


def _within(size: int, budget: int | None) -> int:
    return size if budget is None else min(size, budget)


def _in_order(items: Iterable[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        if len(batch) == size:
            break
        batch.append(item)
    return _with_role(batch, TRAIN)


def first_batch(
    items: Items, *, size: int, calibration_size: int | str, automated: bool, rng: random.Random,
    human_budget: int | None = None, total: int | None = None, min_calibration: int = 0,
) -> list[dict[str, Any]]:
    """A random sample: `size` items to train the first model, plus a calibration part.

    The first model has no earlier labels to learn from, so its training part
    is a full batch; on BBC News this kept iteration 0 from labeling nothing
    (machine-labeled share over 10 seeds: 68-89% instead of 63-87%). The calibration
    part is `calibration_size` items, or with "auto" sized to the `total` items less the
    training part (counted from `items` when not given), at least `min_calibration`.

    A human budget below the full first batch shrinks the training part; the calibration
    part stays whole. A budget that cannot hold a calibration sample plus one training item
    cannot calibrate any model: humans label `human_budget` random items and the job stops.
    """
    if not automated:
        return _in_order(items(), _within(size, human_budget))
    if calibration_size == AUTO and total is None:
        total = sum(1 for _ in items())
    calibration = calibration_sample_size(calibration_size, max(0, (total or 0) - size), least=min_calibration)
    if human_budget is not None and human_budget <= calibration:
        return sorted(_with_role(reservoir_sample(items(), human_budget, rng), TRAIN), key=lambda item: item["id"])
    size = _within(size + calibration, human_budget) - calibration
    sample = reservoir_sample(items(), size + calibration, rng)
    rng.shuffle(sample)
    batch = _with_role(sample[:calibration], CALIBRATION) + _with_role(sample[calibration:], TRAIN)
    return sorted(batch, key=lambda item: item["id"])


def next_batch(
    remaining: Items, remaining_count: int, *, size: int, calibration_size: int | str, scored: bool,
    rng: random.Random, max_duplicate_bits: int = 0, human_budget: int | None = None, min_calibration: int = 0,
) -> list[dict[str, Any]]:
    """The most ambiguous remaining items plus a fresh random calibration sample.

    With a fixed `calibration_size` the batch is `size` items, the calibration sample among
    them; when what remains would leave fewer items for the model than a calibration
    sample, humans label all of it: too few are left to calibrate a threshold on. With
    "auto" the ambiguous part is `size - AUTO_REFERENCE_SAMPLE` items and the calibration
    sample is sized to the rest (calibration_sample_size), and humans label all that remains
    once it is too small to pay for one. Near-duplicates (sketches within `max_duplicate_bits`) share one place in the
    ambiguous part. `human_budget` (items humans may still label; None: no cap) cuts
    the ambiguous part; when it cannot hold a calibration sample (or, without a model,
    is 0), there is no batch: an empty list, unless all that remains fits in it.
    """
    if human_budget is not None and human_budget <= 0:
        return []
    if not scored:
        return _in_order(remaining(), _within(size, human_budget))
    fits_budget = human_budget is None or remaining_count <= human_budget
    if calibration_size == AUTO:
        ambiguous_size = size - AUTO_REFERENCE_SAMPLE
        calibration = calibration_sample_size(AUTO, max(0, remaining_count - ambiguous_size), least=min_calibration)
        too_few = calibration == 0
    else:
        calibration = int(calibration_size)
        ambiguous_size, too_few = size - calibration, remaining_count <= size + calibration
    if too_few and fits_budget:
        return _in_order(remaining(), remaining_count)
    if human_budget is not None and human_budget < max(calibration, 1):
        return []
    if calibration == 0:  # too few left to calibrate on, more than the budget: what it allows, no model
        return _in_order(remaining(), _within(remaining_count, human_budget))
    ambiguous = most_ambiguous(
        remaining(), min(ambiguous_size, _within(ambiguous_size + calibration, human_budget) - calibration),
        max_bits=max_duplicate_bits,
    )
    chosen = {item["id"] for item in ambiguous}
    sample = reservoir_sample((i for i in remaining() if i["id"] not in chosen), calibration, rng)
    batch = _with_role(ambiguous, TRAIN) + _with_role(sample, CALIBRATION)
    return sorted(batch, key=lambda item: item["id"])


def without(items: Iterable[dict[str, Any]], batch: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The items not in the batch, in their order, stripped of scoring fields."""
    taken = {item["id"] for item in batch}
    for item in items:
        if item["id"] not in taken:
            yield _unscored(item)
