"""How much of the box oracle cut each box-search rule takes, one iteration at a time, on real jobs (issue 13).

    .venv/bin/python -m benchmarks.pipeline --datasets digit-scenes --seeds 2 --workdir /tmp/scenes
    .venv/bin/python -m benchmarks.box_search_study /tmp/scenes/digit-scenes-seed-*/output    # ~6 minutes

benchmarks/search_study.py asks this of the classification search on the simulated loop's models;
the box search needs the real detector, whose confidences rank images poorly on digit scenes
(benchmarks/README.md). This study reads finished detection jobs instead: for each iteration whose
model predicted on the pool, the pool's (confidence, true image quality) pairs come from the job's
own output folder (benchmarks/box_oracle.py, the gold boxes from the run's data/answers.manifest).
Each of `--draws` calibration samples of `--size` images is drawn uniformly from that pool, and every
rule sees the same samples: which threshold does it pick, what share of the oracle cut
(benchmarks/oracle.py oracle_box_cut) does it label, and how often is the pool above it below the
target (the promise allows 1 - ConfidenceLevel)?

Rules, all the product's fixed-sequence search (fixed_sequence.lowest_passing) on its grid:
  * product: ComputeThreshold's own search (box_quality.choose_box_threshold): the hedged bettor,
    in a betting order drawn from the draw's seed, from the start count (26 images at the defaults).
  * mixture: the same search with the order-free mixture of constant bettors (bounded_mean.Wealth) and
    its own start count (29 images), which the product used before the hedged bettor.
  * later-start: the product's test, first tested at the count where images all scoring an eighth of
    the way from the target to 1 (0.65) would pass (51 images at the defaults) instead of a quarter.

Writes <out>/box-search-study.md (the table in benchmarks/README.md, "Boxes where the promise binds").
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.box_oracle import pool_qualities
from benchmarks.oracle import oracle_box_cut
from labeling.logic.bounded_mean import Wealth, hedged_min_count, hedged_passes, min_count_to_pass
from labeling.logic.box_quality import (
    TARGET_QUALITY,
    betting_order,
    choose_box_threshold,
    in_betting_order,
    start_score,
)
from labeling.logic.fixed_sequence import lowest_passing

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
CONFIDENCE = 0.95
LATER_START_SCORE = TARGET_QUALITY + (1.0 - TARGET_QUALITY) / 8

Images = Sequence[tuple[float, float]]  # (confidence, quality)
Rule = Callable[[Images, str], float | None]


def product(sample: Images, order_seed: str) -> float | None:
    return choose_box_threshold(sample, TARGET_QUALITY, confidence_level=CONFIDENCE, order_seed=order_seed).threshold


def mixture(sample: Images, order_seed: str) -> float | None:
    alpha = 1.0 - CONFIDENCE
    scored = sorted(sample, key=lambda image: -image[0])
    wealth = Wealth(TARGET_QUALITY)

    def passes(_threshold: float, count: int) -> bool:
        while wealth.count < count:
            wealth.add(scored[wealth.count][1])
        return wealth.exceeds(alpha)

    start = min_count_to_pass(TARGET_QUALITY, alpha, start_score(TARGET_QUALITY))
    return lowest_passing([confidence for confidence, _ in scored], start, passes)[0]


def later_start(sample: Images, order_seed: str) -> float | None:
    alpha = 1.0 - CONFIDENCE
    scored = betting_order(sample, order_seed)
    start = hedged_min_count(TARGET_QUALITY, alpha, LATER_START_SCORE)
    return lowest_passing([confidence for confidence, _, _ in scored], start,
                          lambda _t, count: hedged_passes(in_betting_order(scored, count), TARGET_QUALITY, alpha))[0]


RULES: dict[str, Rule] = {"product": product, "mixture": mixture, "later-start": later_start}


def _answers(output: Path) -> list[dict]:
    manifest = output.parent / "data" / "answers.manifest"
    return [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]


def study(output: Path, size: int, draws: int) -> list[dict]:
    """One row per iteration with a pool model and per rule."""
    answers, rows = _answers(output), []
    iteration = 0
    while (output / "activelearning" / f"iteration-{iteration}").is_dir():
        pool = pool_qualities(output, iteration, answers)
        if pool is not None and len(pool) >= size:
            oracle = oracle_box_cut(pool, TARGET_QUALITY)
            draw = random.Random(f"box-search-study:{output}:{iteration}")
            tallies = {rule: {"labeled": 0, "below": 0, "nothing": 0} for rule in RULES}
            for d in range(draws):
                sample = draw.sample(pool, size)
                for rule, choose in RULES.items():
                    threshold = choose(sample, f"box-search-study:{iteration}:{d}")
                    accepted = [quality for confidence, quality in pool
                                if threshold is not None and confidence >= threshold]
                    tally = tallies[rule]
                    tally["labeled"] += len(accepted)
                    tally["below"] += bool(accepted) and sum(accepted) / len(accepted) < TARGET_QUALITY
                    tally["nothing"] += not accepted
            for rule, tally in tallies.items():
                rows.append({"job": output.parent.name, "iteration": iteration, "pool": len(pool),
                             "pool_mean": sum(q for _, q in pool) / len(pool), "oracle": oracle, "rule": rule,
                             "ratio": tally["labeled"] / draws / oracle if oracle else None,
                             "below": tally["below"] / draws, "nothing": tally["nothing"] / draws})
        iteration += 1
    return rows


def markdown(rows: list[dict], size: int, draws: int) -> str:
    lines = [
        f"Target mean image quality {TARGET_QUALITY} at {CONFIDENCE:.0%} confidence; {draws} calibration samples of "
        f"{size} images per iteration (benchmarks/box_search_study.py). *Labeled / oracle*: the rule's machine "
        "labels over the oracle cut's, mean over draws. *Below target*: draws whose labeled pool images had a "
        f"mean quality below {TARGET_QUALITY} (allowed: {1 - CONFIDENCE:.0%}). *Nothing*: draws that certified "
        "no threshold.",
        "",
        "| job | iteration | pool | pool's mean quality | oracle | rule | labeled / oracle % | below target % "
        "| nothing % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "-" if row["ratio"] is None else f"{100 * row['ratio']:.1f}"
        lines.append(f"| {row['job']} | {row['iteration']} | {row['pool']:,} | {row['pool_mean']:.3f} | "
                     f"{row['oracle']:,} | {row['rule']} | {ratio} | {100 * row['below']:.1f} | "
                     f"{100 * row['nothing']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outputs", nargs="+", type=Path, help="finished detection jobs' output folders")
    parser.add_argument("--size", type=int, default=100, help="calibration images per draw (default: the job's)")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = [row for output in args.outputs for row in study(output, args.size, args.draws)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "box-search-study.md").write_text(markdown(rows, args.size, args.draws))
    print(f"wrote {args.out / 'box-search-study.md'} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
