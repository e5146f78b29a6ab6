"""A lower confidence bound for the mean of a variable bounded in [0, 1], by betting.

The question: from n independent draws x_1..x_n of a [0, 1] variable (a box-quality
score per image), is its mean at least m? Counting correct labels would make this a
binomial question with an exact answer (threshold.py); a score in [0, 1] needs a bound
that holds for every distribution on [0, 1].

The bound used here: a mixture of constant bets (the "diversified Kelly" strategy of
Waudby-Smith & Ramdas, 2023, "Estimating means of bounded random variables by betting"):
  * A bettor starts with 1 and, on each draw, keeps 1 - c of their wealth and puts c
    into a ticket that pays x / m, so each draw multiplies the wealth by
    1 - c + c * x / m. If the mean were at most m, each factor would have expectation
    at most 1, so the final wealth has expectation at most 1 whatever the distribution.
  * BETS bettors with different fractions c play side by side, one unit each, and the
    wealth is their average W(m) = mean over c of prod_i (1 - c + c * x_i / m): still of
    expectation at most 1, and never below the best fraction's wealth (in hindsight)
    divided by len(BETS), which is what makes the bound adapt to the spread of the scores.
  * Markov's inequality: if the mean is at most m, W(m) >= 1 / alpha has probability at
    most alpha. So W(m) >= 1 / alpha shows that the mean exceeds m at level 1 - alpha,
    and the lower bound is the largest m for which that still holds (W decreases in m).
  * The bets are fixed in advance and the wealth is a product, so the bound depends on
    the values only, not on their order, and it is exactly reproducible.

Why this bound: the share of 1,000 simulated samples of 100 draws (the default calibration
size) whose bound at confidence 0.95 clears m = 0.6, when the true mean is 0.7:

  scores (mean 0.7)                          Hoeffding  Hoeffding-Bentkus  betting (here)  hedged betting
  steady: Beta, sd 0.15 (boxes drawn well)       6%            25%             100%            100%
  15% of images 0, the rest Beta (sd 0.30)      21%            37%              47%             71%
  all-or-nothing: 0 or 1 (sd 0.46)              30%            39%              18%             48%

  * Hoeffding, mean - sqrt(log(1 / alpha) / 2n): the simplest, but it assumes the widest
    spread a [0, 1] variable can have.
  * Hoeffding-Bentkus (the p-value of Learn then Test, Angelopoulos et al. 2021): worst
    case in the spread too (a binomial), so it wins only when scores really are 0 or 1;
    box qualities seldom are, and steady ones are where betting pays most.
  * Hedged betting (Waudby-Smith & Ramdas's bets learnt from the earlier draws, with
    Ville's inequality over the running wealth) is stronger still, but its value depends
    on the order of the draws, and that order must be random for the bound to hold; the
    calibration items reach ComputeThreshold in the order they are stored, which nothing
    makes random. The bettors here need no order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# The bettors' fractions c: from cautious (small edges, widely spread scores) to bold
# (scores tightly above m). Below 1, so one image of quality 0 cannot ruin a bettor.
BETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def _log_mean_exp(logs: Iterable[float]) -> float:
    logs = list(logs)
    top = max(logs)
    return top + math.log(sum(math.exp(value - top) for value in logs) / len(logs))


class Wealth:
    """The bettors' wealth W(m) against "the mean is at most m", one draw at a time."""

    def __init__(self, m: float):
        if not 0.0 < m < 1.0:
            raise ValueError(f"the mean tested must lie strictly between 0 and 1, not {m}")
        self.m = m
        self.count = 0
        self.total = 0.0
        self._logs = [0.0] * len(BETS)  # log of each bettor's wealth

    def add(self, x: float) -> None:
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"a score must lie in [0, 1], not {x}")
        self.count += 1
        self.total += x
        for k, c in enumerate(BETS):
            self._logs[k] += math.log(1.0 - c + c * x / self.m)

    @property
    def log_wealth(self) -> float:
        return _log_mean_exp(self._logs)

    def exceeds(self, alpha: float) -> bool:
        """Whether the draws show, at level 1 - alpha, that the mean is above m."""
        return self.log_wealth >= math.log(1.0 / alpha)


def log_wealth(values: Iterable[float], m: float) -> float:
    wealth = Wealth(m)
    for x in values:
        wealth.add(x)
    return wealth.log_wealth


def _log_wealth_and_slope(values: list[float], m: float) -> tuple[float, float]:
    """log W(m) and its derivative in m (for Newton's method)."""
    logs, slopes = [], []
    for c in BETS:
        log_sum = slope = 0.0
        for x in values:
            gain = c * x / m
            log_sum += math.log(1.0 - c + gain)
            slope -= gain / (m * (1.0 - c + gain))
        logs.append(log_sum)
        slopes.append(slope)
    total = _log_mean_exp(logs)
    weights = [math.exp(value - total) / len(logs) for value in logs]  # each bettor's share of W
    return total, sum(w * s for w, s in zip(weights, slopes, strict=True))


def mean_lower_bound(values: Iterable[float], alpha: float, tolerance: float = 1e-10) -> float:
    """Level 1 - alpha lower confidence bound for the mean: the largest m with W(m) >= 1 / alpha.

    log W(m) decreases and is convex in m (a log-sum-exp of sums of convex terms), so
    Newton's method started below the bound climbs towards it without overshooting (up to
    rounding): the value returned is never above the exact bound.
    """
    values = list(values)
    needed = math.log(1.0 / alpha)
    mean = sum(values) / len(values) if values else 0.0
    if mean <= 0.0:
        return 0.0
    # W(mean) <= 1 (each bettor's log-factors average to at most 0, by Jensen), so the
    # bound lies in [0, mean); W grows without limit as m goes to 0. Bisect to a start
    # just below the bound, then Newton.
    low, high = 0.0, mean
    while low == 0.0 or high - low > 0.01 * mean:
        middle = (low + high) / 2
        if _log_wealth_and_slope(values, middle)[0] >= needed:
            low = middle
        else:
            high = middle
        if high < tolerance:
            return 0.0
    for _ in range(100):
        excess, slope = _log_wealth_and_slope(values, low)
        step = (needed - excess) / slope  # >= 0 while W(low) >= 1 / alpha
        if step < tolerance:
            break
        low += step
    return low


def min_count_to_pass(m: float, alpha: float, score: float = 1.0) -> int:
    """Fewest draws, all equal to `score` (> m), whose wealth reaches 1 / alpha.

    With the default score 1, the most a draw can show, fewer draws can never pass.
    """
    if not m < score <= 1.0:
        raise ValueError(f"draws of {score} can never show a mean above {m}")
    wealth = Wealth(m)
    while not wealth.exceeds(alpha):
        wealth.add(score)
    return wealth.count
