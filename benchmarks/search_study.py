"""How much of the oracle cut each threshold-search rule takes, one iteration at a time (issue 13).

    .venv/bin/python -m benchmarks.search_study                    # ~4 minutes on 2 cores
    .venv/bin/python -m benchmarks.search_study --datasets digits --seeds 1 --draws 50 --out /tmp/study

The simulated loop (benchmarks/loop.py) measures whole jobs, where one iteration's refusal is
deferred to the next and every number moves with the iteration count. This study holds the
model fixed and asks one question per rule: given this model and its pool, and a uniform
calibration sample of n pool items (humans' answers known), which threshold does the rule pick,
what share of the oracle cut (benchmarks/oracle.py) does it label, and how often is the pool above
it below the target (the promise allows 1 - ConfidenceLevel)?

For each data set and seed, a model (benchmarks/models.py, as the loop trains) is fit on a random
150 items (a job's first model) and on a random 400 (a later one); the rest is its pool. Each of
`--draws` calibration samples is drawn from the pool, and every rule sees the same samples.

Rules; all choose their test points from the calibration confidences and counts only, never from
the labels, as the product's search does (functions/labeling/logic/fixed_sequence.py):
  * product: ComputeThreshold's own search (threshold.choose_threshold): every grid point from
    the first that holds enough items to pass (59 at 95% / 95%), high to low, stop at the first failure.
  * later-start: the same search, first tested where the sample holds 70% of its items: the first
    test then tolerates errors (one at 93 items), at the price of never labeling a smaller cut.
  * two-starts: both starts, each at alpha / 2 (Bonferroni over two fixed sequences), the lower
    threshold of the two.
  * ladder: only the grid points where the count first reaches one more tolerated error (59, 93,
    124, ... at 95% / 95%), so that one error between them does not end the search.
  * half-ladder: the ladder and its midpoints.

Writes <out>/search-study.md (the table in benchmarks/README.md, "Where the search starts").
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from benchmarks import datasets
from benchmarks.models import Model
from benchmarks.oracle import oracle_cut
from labeling.logic.fixed_sequence import grid_counts
from labeling.logic.threshold import choose_threshold, clopper_pearson_lower, min_trials_to_pass

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
TARGET, CONFIDENCE = 0.95, 0.95
TRAINING_SIZES = (150, 400)
CALIBRATION_SIZES = (100, 200, 400)
LATER_START_SHARE = 0.7

Pairs = Sequence[tuple[float, bool]]  # (confidence, right), sorted from high to low
RULES = ("product", "later-start", "two-starts", "ladder", "half-ladder")

# The variants ask the same (successes, trials, alpha) bounds again and again; each is a bisection.
bound = lru_cache(maxsize=None)(clopper_pearson_lower)


def _sequence(pairs: Pairs, alpha: float, tested: Callable[[int], bool]) -> float | None:
    """Fixed-sequence search over the grid points `tested(count)` admits, high to low, stop at the first failure."""
    correct = [0]
    for _, right in pairs:
        correct.append(correct[-1] + right)
    chosen = None
    for threshold, count in grid_counts([confidence for confidence, _ in pairs]):
        if not tested(count):
            continue
        if bound(correct[count], count, alpha) < TARGET:
            break
        chosen = threshold
    return chosen


def _from(least: int) -> Callable[[int], bool]:
    return lambda count: count >= least


def ladder(size: int, alpha: float, midpoints: bool = False) -> list[int]:
    """The counts at which an exact 1 - alpha bound first passes with 0, 1, 2, ... errors (59, 93, ...)."""
    rungs, errors = [], 0
    for count in range(1, size + 1):
        if bound(count - errors, count, alpha) >= TARGET:
            rungs.append(count)
            errors += 1
    if midpoints:
        rungs = sorted({*rungs, *((a + b) // 2 for a, b in zip(rungs, rungs[1:], strict=False))})
    return rungs


def _on_rungs(rungs: list[int]) -> Callable[[int], bool]:
    """Admits a grid point when its count is the first to reach a rung not yet passed."""
    next_rung = 0

    def tested(count: int) -> bool:
        nonlocal next_rung
        if next_rung >= len(rungs) or count < rungs[next_rung]:
            return False
        while next_rung < len(rungs) and rungs[next_rung] <= count:
            next_rung += 1
        return True
    return tested


def rules(pairs: Pairs) -> dict[str, float | None]:
    alpha = 1.0 - CONFIDENCE
    size = len(pairs)
    later = max(min_trials_to_pass(TARGET, alpha), math.ceil(LATER_START_SHARE * size))
    first_half = _sequence(pairs, alpha / 2, _from(min_trials_to_pass(TARGET, alpha / 2)))
    later_half = _sequence(pairs, alpha / 2, _from(max(min_trials_to_pass(TARGET, alpha / 2), later)))
    passed = [t for t in (first_half, later_half) if t is not None]
    return {
        "product": choose_threshold(pairs, TARGET, CONFIDENCE).threshold,
        "later-start": _sequence(pairs, alpha, _from(later)),
        "two-starts": min(passed) if passed else None,
        "ladder": _sequence(pairs, alpha, _on_rungs(ladder(size, alpha))),
        "half-ladder": _sequence(pairs, alpha, _on_rungs(ladder(size, alpha, midpoints=True))),
    }


@dataclass
class Tally:
    labeled: int = 0
    oracle: int = 0
    below_target: int = 0
    nothing: int = 0
    draws: int = 0

    def add(self, labeled: int, oracle: int, accuracy: float | None) -> None:
        self.labeled += labeled
        self.oracle += oracle
        self.below_target += accuracy is not None and accuracy < TARGET
        self.nothing += labeled == 0
        self.draws += 1


def study(name: str, seeds: int, draws: int) -> dict[tuple[int, int, str], Tally]:
    data = datasets.load(name)
    tallies: dict[tuple[int, int, str], Tally] = {}
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(data))
        for trained in TRAINING_SIZES:
            train, pool = order[:trained], order[trained:]
            scores = Model(data.model, data.class_count, seed).fit(data.features[train], data.labels[train]) \
                .scores(data.features[pool])
            confidence, right = scores.max(axis=1), scores.argmax(axis=1) == data.labels[pool]
            oracle = oracle_cut(zip(confidence.tolist(), right.tolist(), strict=True), TARGET)
            draw = random.Random(f"search-study:{name}:{seed}:{trained}")
            for size in CALIBRATION_SIZES:
                for _ in range(draws):
                    sample = draw.sample(range(len(pool)), size)
                    pairs = sorted(((float(confidence[i]), bool(right[i])) for i in sample), key=lambda p: -p[0])
                    for rule, threshold in rules(pairs).items():
                        accepted = confidence >= threshold if threshold is not None else None
                        labeled = int(accepted.sum()) if accepted is not None else 0
                        accuracy = float(right[accepted].mean()) if labeled else None
                        tallies.setdefault((trained, size, rule), Tally()).add(labeled, oracle, accuracy)
    return tallies


def markdown(results: dict[str, dict[tuple[int, int, str], Tally]], seeds: int, draws: int) -> str:
    lines = [
        f"Target accuracy {TARGET:.0%} at {CONFIDENCE:.0%} confidence; {seeds} seeds x {draws} calibration samples "
        "per model and sample size (benchmarks/search_study.py). *Labeled / oracle*: the rule's machine labels "
        "over the oracle cut's, summed over draws. *Below target*: draws whose labeled pool items were below "
        f"{TARGET:.0%} accurate (allowed: {1 - CONFIDENCE:.0%}). *Nothing*: draws that certified no threshold.",
        "",
        "| data set | model trained on | calibration items | rule | labeled / oracle % | below target % | nothing % |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, tallies in results.items():
        for (trained, size, rule), tally in sorted(tallies.items(),
                                                   key=lambda item: (*item[0][:2], RULES.index(item[0][2]))):
            lines.append(
                f"| {name} | {trained} | {size} | {rule} | {100 * tally.labeled / max(tally.oracle, 1):.1f} | "
                f"{100 * tally.below_target / tally.draws:.1f} | {100 * tally.nothing / tally.draws:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bbc-news", "digits", "mnist"],
                        choices=list(datasets.LOADERS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = {name: study(name, args.seeds, args.draws) for name in args.datasets}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search-study.md").write_text(markdown(results, args.seeds, args.draws))
    print(f"wrote {args.out / 'search-study.md'} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
