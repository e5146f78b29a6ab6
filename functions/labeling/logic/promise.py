"""Which promise a job keeps (job.json `Promise`), and what it asks of each iteration's threshold.

Three promises, all at `ConfidenceLevel` over the random calibration samples, in the task's
measure (accuracy; mean IoU-based quality for boxes, where an image's "error" is 1 - its quality):

  * "EachIteration" (the default): each iteration's machine labels are at least the target on
    their own. Each iteration tests at the full level alpha = 1 - ConfidenceLevel, so over a job
    of many iterations the chance that *some* iteration misses is larger than alpha.
  * "AllMachineLabels": all the job's machine labels together are at least the target.
  * "WholeDataset": the whole output, human labels included and counted as right, is at least
    the target: PAC labeling (Candes, Ilyas and Zrnic, 2025). Humans' labels then leave room
    for machine labels below the target, so it labels more; it promises nothing about the
    machine labels alone.

How the two job-level promises are kept, by an error budget carried across iterations
(`PromiseLedger`, in the workflow's state):
  * Iteration k's test spends alpha_k = alpha / ((k + 1) (k + 2)) (k counts the earlier iterations
    whose search ran a test, so one that could test nothing spends nothing; the alpha_k sum to
    alpha), so by the union bound every iteration's
    bound holds at once with probability at least 1 - alpha.
  * For a threshold t, A(t) pool items would be labeled. The test at t asks the exact lower bound
    of their measure, from the calibration items at or above t at level alpha_k, to reach some r(t);
    when the test is right, U(t) = A(t) (1 - r(t)) bounds their errors.
  * The budget: the errors the promise allows over everything certified so far, less the
    errors already bounded: (1 - target) (machine labels so far + A(t) [+ human labels so far,
    for WholeDataset]) - sum of earlier U. Threshold t keeps the promise when U(t) fits, so the
    test asks for `required(t)` = r(t) = 1 - budget / A(t). An earlier iteration that certified
    more than it needed leaves room for the next one.
  * When every bound holds, the errors are at most the sum of the chosen U's, which fits the
    budget at every iteration, so the promise holds. Human labels only grow, so counting the
    ones labeled so far never overstates the final data set (WholeDataset). A threshold whose
    A(t) is 0 labels nothing and needs nothing.
  * The fixed-sequence search (fixed_sequence.py) is unchanged: `required(t)` depends on the pool's
    confidences and the counts only, never on the calibration labels.

What it costs in coverage: each iteration also records what the per-iteration promise would
have accepted with the same model and calibration sample (`Threshold.eachIterationPoolAccepted`),
and the report compares them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:  # models.state imports models.job, which imports this module's names
    from labeling.models.state import PromiseLedger

EACH_ITERATION: Final = "EachIteration"
ALL_MACHINE_LABELS: Final = "AllMachineLabels"
WHOLE_DATASET: Final = "WholeDataset"
PromiseName = Literal["EachIteration", "AllMachineLabels", "WholeDataset"]


def iteration_alpha(promise: str, alpha: float, tests_so_far: int) -> float:
    """The level one iteration's test is run at (module doc: alpha_k)."""
    if promise == EACH_ITERATION:
        return alpha
    return alpha / ((tests_so_far + 1) * (tests_so_far + 2))


def requirement(
    promise: str, target: float, ledger: PromiseLedger, *, human_labeled: int, pool_accepted: Callable[[float], int],
) -> Callable[[float], float]:
    """required(t): the lower bound the calibration items at or above threshold t must reach (module doc)."""
    if promise == EACH_ITERATION:
        return lambda threshold: target
    humans = human_labeled if promise == WHOLE_DATASET else 0

    def required(threshold: float) -> float:
        accepted = pool_accepted(threshold)
        if accepted == 0:
            return float("-inf")
        budget = (1.0 - target) * (ledger.machine_accepted + accepted + humans) - ledger.error_bound
        return 1.0 - budget / accepted

    return required


def error_bound(pool_accepted: int, required: float) -> float:
    """U: at most this many errors among the pool items a threshold accepted, when its test was right.

    It charges what the test showed, `required` (clamped to [0, 1]: a threshold that needed nothing
    may hold nothing but errors), not the lower bound at the chosen threshold, which can be above it:
    fixed-sequence testing makes "the chosen threshold's measure is at least what it had to reach"
    hold at alpha_k, and says nothing of a bound computed at a threshold the data picked.
    """
    return pool_accepted * (1.0 - min(max(required, 0.0), 1.0))


def spend(ledger: PromiseLedger, *, pool_accepted: int, required: float, tested: bool = True) -> PromiseLedger:
    """The ledger after an iteration's search, whose threshold accepted `pool_accepted` items, tested at `required`.

    tested: whether the search ran any test. One that ran none (no grid point held enough calibration
    items to pass, which depends on confidences and counts only) spent no confidence, so the next
    iteration gets this one's share.
    """
    return ledger.model_copy(update={
        "tests": ledger.tests + int(tested), "machine_accepted": ledger.machine_accepted + pool_accepted,
        "error_bound": ledger.error_bound + (error_bound(pool_accepted, required) if pool_accepted else 0.0),
    })


def pool_counter(counts: Mapping[float, int]) -> Callable[[float], int]:
    """pool_accepted(t) from the pool's count at each grid threshold."""
    return lambda threshold: counts[threshold]
