"""Lower confidence bounds for the mean of a variable bounded in [0, 1], by betting.

The question: from n independent draws x_1..x_n of a [0, 1] variable (a box-quality
score per image), is its mean at least m? Counting correct labels would make this a
binomial question with an exact answer (threshold.py); a score in [0, 1] needs a bound
that holds for every distribution on [0, 1]. Two bettors answer it here; both rest on
Markov's inequality: a bettor who starts with 1 and, if the mean were at most m, could only
expect to keep at most 1, ends with 1 / alpha or more with probability at most alpha. So
wealth W(m) >= 1 / alpha shows, at level 1 - alpha, that the mean exceeds m, and the lower
bound is the largest m for which that still holds (both W decrease in m).

**The hedged bettor** (`hedged_log_wealth`, `hedged_lower_bound`; the box threshold's test,
box_quality.py): Waudby-Smith & Ramdas (2023, "Estimating means of bounded random variables
by betting"), their hedged capital process with predictable plug-in bets for a sample size
known in advance, on the side that shows a mean above m:
  * draw i multiplies the wealth by 1 + lambda_i (x_i - m), with lambda_i >= 0 chosen from
    the draws before it only: sqrt(2 log(1 / alpha) / (n sigma_i^2)), sigma_i^2 the running
    variance (WSR's mu-hat and sigma-hat, which start from 1/2 and 1/4), capped at HEDGE_CAP / m
    so that no draw can take more than HEDGE_CAP of the wealth. Under "mean <= m" each factor
    has expectation at most 1 given the past, so the final wealth's is at most 1.
  * It learns the spread from the draws: a box model whose qualities sit steadily above m bets
    boldly, one whose images are now perfect, now missed, bets cautiously.
  * Its wealth depends on the ORDER of the draws, and the guarantee needs that order to be
    random, independent of the values. A sample sorted by confidence, or stored by item id,
    is not. box_quality.py therefore bets in an order drawn from the job's seeded random
    stream, as the calibration sample itself is drawn (box_quality.betting_order).

**The mixture of constant bettors** (`Wealth`, `mean_lower_bound`; the audit, audit.py, and
the out-of-reach rule's upper bound, out_of_reach.py), which needs no order:
  * BETS bettors with fixed fractions c play side by side, one unit each; on each draw one
    keeps 1 - c of their wealth and puts c into a ticket that pays x / m, so each factor is
    1 - c + c * x / m. The wealth W(m) is the bettors' average ("diversified Kelly", WSR).
  * The bets are fixed in advance and the wealth is a product, so the bound depends on the
    values only, not on their order, and it is exactly reproducible. The price: an average
    of 11 bettors is worth 1/11 of the best one in hindsight, log 11 = 2.4 of the log 20 = 3.0
    that must be won at alpha = 0.05.

Which passes more often: the share of 1,000 simulated samples of 100 draws (in the order drawn)
whose bound at confidence 0.95 clears m = 0.6, when the true mean is 0.7:

  scores (mean 0.7)                             Hoeffding  mixture  hedged
  steady: Beta, sd 0.15 (boxes drawn well)          5%       100%     100%
  15% of images 0, the rest Beta (sd 0.34)         27%        39%      53%
  all-or-nothing: 0 or 1 (sd 0.46)                 30%        17%      32%

  * Hoeffding, mean - sqrt(log(1 / alpha) / 2n): the simplest, but it assumes the widest
    spread a [0, 1] variable can have. Hoeffding-Bentkus (the p-value of Learn then Test,
    Angelopoulos et al. 2021) is worst case in the spread too (a binomial), so it wins only
    when scores really are 0 or 1; box qualities seldom are.
  * The mixture loses to Hoeffding on all-or-nothing scores; the hedged bettor is at least
    as good as either on every row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import lru_cache

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


# The hedged bettor never stakes more than this share of its wealth on one draw (WSR's c; they
# suggest 1/2 or 3/4): an image of quality 0 then leaves at least a quarter.
HEDGE_CAP = 0.75


def hedged_log_wealth(values: Sequence[float], m: float, alpha: float) -> float:
    """log of the hedged bettor's wealth against "the mean is at most m" after `values`, in their order.

    The bets are tuned for the sample size len(values), known before the first draw, and for alpha
    (module doc). The order must be random: see the module doc.
    """
    if not 0.0 < m < 1.0:
        raise ValueError(f"the mean tested must lie strictly between 0 and 1, not {m}")
    n = len(values)
    scale = 2.0 * math.log(1.0 / alpha) / n if n else 0.0
    log_wealth_so_far = 0.0
    total, squares = 0.5, 0.25  # WSR's running mean and variance start from one draw at 1/2, of variance 1/4
    for i, x in enumerate(values, start=1):
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"a score must lie in [0, 1], not {x}")
        bet = min(math.sqrt(scale / (squares / i)), HEDGE_CAP / m)
        log_wealth_so_far += math.log1p(bet * (x - m))
        total += x
        squares += (x - total / (i + 1)) ** 2
    return log_wealth_so_far


def hedged_passes(values: Sequence[float], m: float, alpha: float) -> bool:
    """Whether the draws, in their (random) order, show at level 1 - alpha that the mean is above m."""
    return hedged_log_wealth(values, m, alpha) >= math.log(1.0 / alpha)


def hedged_lower_bound(values: Sequence[float], alpha: float, tolerance: float = 1e-10) -> float:
    """Level 1 - alpha lower confidence bound for the mean: the largest m the hedged bettor beats.

    Each factor 1 + min(b, HEDGE_CAP / m)(x - m) decreases in m (a min or a max of two decreasing
    functions) and the bets b do not depend on m, so the wealth decreases in m and bisection finds
    where it crosses 1 / alpha; the value returned is never above it.
    """
    if not values or sum(values) <= 0.0:
        return 0.0
    low, high = 0.0, max(values)
    if high >= 1.0:
        high = 1.0 - tolerance
    while high - low > tolerance:
        middle = (low + high) / 2
        if middle > 0.0 and hedged_passes(values, middle, alpha):
            low = middle
        else:
            high = middle
    return low


@lru_cache(maxsize=4096)
def hedged_min_count(m: float, alpha: float, score: float) -> int:
    """Fewest draws, all equal to `score` (> m), with which the hedged bettor beats m (order is moot).

    Cached: each count's bets differ (they are tuned for the count), so this costs O(count^2), and a
    job-level promise asks it again at every grid point (box_quality.start_count)."""
    if not m < score <= 1.0:
        raise ValueError(f"draws of {score} can never show a mean above {m}")
    count = 1
    while not hedged_passes([score] * count, m, alpha):
        count += 1
    return count
