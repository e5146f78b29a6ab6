"""The labeling loop, simulated in-process with the pipeline's own selection and threshold code.

It runs the same steps as the state machine (SelectSample, HumanLabeling,
ConsolidateAnnotations, Train, Transform, ComputeThreshold, ApplyThreshold,
SelectAmbiguous) with the same functions from functions/labeling/logic, but
with the model in-process and the gold labels standing in for human answers.
What it leaves out is plumbing (S3, Step Functions, SageMaker processes), which
the end-to-end tests cover.

Rules compared (`Rule`):
  * guarantee: the product's rule, ComputeThreshold's bound-based threshold and
    the most ambiguous items for humans.
  * point-estimate: the lowest threshold whose calibration accuracy reaches the
    target (what a fixed or uncalibrated cut-off amounts to), ambiguous items.
  * guarantee-entropy: the same with ActiveLearningStrategy "entropy".
  * guarantee-auto: the same with CalibrationSampleSize "auto" (a calibration sample sized to
    each pool: logic/batches.py), the rest of the settings as given.
  * random-sampling: the product's threshold, but humans get random items
    instead of ambiguous ones.
  * all-machine-labels, whole-dataset: the product's rule under job.json's Promise AllMachineLabels or
    WholeDataset (logic/promise.py): the confidence split across iterations, an error budget carried.
Every rule but point-estimate takes its threshold from ComputeThreshold's own decision
(logic/iteration_threshold.decide), the ledger of a job-level promise included.

Each iteration also applies ComputeThreshold's out-of-reach rule (logic/out_of_reach.py, the same
call): once OutOfReachIterations iterations in a row put the target out of reach, with
StopTrainingWhenOutOfReach no more models are trained and humans label the rest in plain batches.

Each iteration also records the oracle cut (benchmarks/oracle.py) on its pool, the
limit the rule is measured against; it never feeds back into the loop's decisions.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from benchmarks.datasets import Dataset
from benchmarks.models import Model
from benchmarks.oracle import oracle_cut
from labeling.logic import batches, iteration_threshold, out_of_reach, promise, sampling
from labeling.logic.label_kinds import label_kind
from labeling.logic.threshold import GRID
from labeling.models.job import JobConfig
from labeling.models.state import PromiseLedger

RULES = ("guarantee", "guarantee-entropy", "guarantee-auto", "point-estimate", "random-sampling",
         "all-machine-labels", "whole-dataset")
# The rules that keep a job-level promise (job.json Promise; functions/labeling/logic/promise.py).
PROMISES = {"all-machine-labels": promise.ALL_MACHINE_LABELS, "whole-dataset": promise.WHOLE_DATASET}
CLASSES = label_kind("classification")
# SageMaker bills each training and transform job for its whole run, of which
# container start, data download and model load dominate at these sizes; the
# simulation has none of that, so each job is priced at this many minutes.
BILLED_MINUTES_PER_SAGEMAKER_JOB = 5.0


def point_estimate_threshold(calibration: list[tuple[float, bool]], target: float) -> float | None:
    """Lowest grid threshold whose accepted calibration items are at least `target` accurate."""
    chosen = None
    for threshold in GRID:
        accepted = [correct for confidence, correct in calibration if confidence >= threshold]
        if accepted and sum(accepted) / len(accepted) >= target:
            chosen = threshold
    return chosen


@dataclass
class IterationResult:
    iteration: int
    human_batch: int
    threshold: float | None
    machine_labeled: int
    machine_correct: int
    # Items the threshold was applied to, and how many of them the oracle cut (benchmarks/oracle.py)
    # would have labeled with this iteration's model; None where no model was trained.
    pool: int = 0
    oracle_labeled: int | None = None
    # The calibration curve put the target out of this model's reach (logic/out_of_reach.py).
    out_of_reach: bool = False


@dataclass
class RunResult:
    dataset: str
    rule: str
    seed: int
    items: int
    human_labeled: int = 0
    machine_labeled: int = 0
    machine_correct: int = 0
    sagemaker_jobs: int = 0
    seconds: float = 0.0
    human_items: list[int] = field(default_factory=list)
    # The iteration that declared the target out of reach (OutOfReachIterations in a row); None: never.
    out_of_reach_iteration: int | None = None
    iterations: list[IterationResult] = field(default_factory=list)

    @property
    def machine_accuracy(self) -> float | None:
        return self.machine_correct / self.machine_labeled if self.machine_labeled else None

    @property
    def output_accuracy(self) -> float:
        # Simulated workers answer with the gold label, so human labels are all correct.
        return (self.human_labeled + self.machine_correct) / self.items


def _items(ids, extra=None) -> list[dict]:
    return [{"id": int(i), **(extra(i) if extra else {})} for i in ids]


def simulate(dataset: Dataset, rule: str, seed: int, settings: JobConfig) -> RunResult:
    started = time.perf_counter()
    result = RunResult(dataset.name, rule, seed, len(dataset))
    X, gold = dataset.features, dataset.labels
    strategy = "entropy" if rule == "guarantee-entropy" else settings.ActiveLearningStrategy
    if rule == "guarantee-auto":
        settings = JobConfig.model_validate({**settings.model_dump(), "CalibrationSampleSize": batches.AUTO})
    if rule in PROMISES:
        settings = JobConfig.model_validate({**settings.model_dump(), "Promise": PROMISES[rule]})
    ledger = PromiseLedger()
    noise = random.Random(f"benchmark-random-sampling:{seed}")
    all_items = _items(range(len(dataset)))
    batch = batches.first_batch(
        lambda: iter(all_items), size=settings.MaxConcurrentTaskCount,
        calibration_size=settings.CalibrationSampleSize, automated=True, rng=batches.iteration_rng(seed, 0),
        total=len(all_items), min_calibration=batches.least_calibration(settings),
    )
    pool = [i for i in range(len(dataset)) if i not in {item["id"] for item in batch}]
    human: list[int] = []
    iteration, streak, stopped = 0, 0, False
    while batch:
        human += [item["id"] for item in batch]
        calibration = [item["id"] for item in batch if item["role"] == batches.CALIBRATION]
        record = IterationResult(iteration, len(batch), None, 0, 0)
        result.iterations.append(record)
        if not pool:
            break
        if not calibration:  # training stopped (out of reach): humans label the rest, as SelectAmbiguous has it
            iteration += 1
            batch = batches.next_batch(
                lambda pool=pool: iter(_items(pool)), len(pool), size=settings.MaxConcurrentTaskCount,
                calibration_size=settings.CalibrationSampleSize, scored=False,
                rng=batches.iteration_rng(seed, iteration),
            )
            chosen = {item["id"] for item in batch}
            pool = [i for i in pool if i not in chosen]
            continue
        held_out = set(calibration)
        train = [i for i in human if i not in held_out]
        model = Model(dataset.model, dataset.class_count, seed).fit(X[train], gold[train])
        result.sagemaker_jobs += 3  # training, validation transform, pool transform
        cal_scores = model.scores(X[calibration])
        pairs = [(float(s.max()), bool(s.argmax() == gold[i])) for i, s in zip(calibration, cal_scores, strict=True)]
        pool_scores = model.scores(X[pool])
        record.pool = len(pool)
        record.oracle_labeled = oracle_cut(
            ((float(s.max()), bool(s.argmax() == gold[i])) for i, s in zip(pool, pool_scores, strict=True)),
            settings.TargetAccuracy,
        )
        if rule == "point-estimate":
            threshold = point_estimate_threshold(pairs, settings.TargetAccuracy)
        else:  # ComputeThreshold's own decision, the job's promise and its ledger included
            decision = iteration_threshold.decide(
                CLASSES, pairs, settings, ledger, human_labeled=len(human),
                pool_confidences=lambda pool_scores=pool_scores: (float(s.max()) for s in pool_scores),
                order_seed=batches.calibration_order_seed(seed, iteration))
            threshold, ledger = decision.threshold.value, decision.ledger
        record.threshold = threshold
        # ComputeThreshold's out-of-reach rule, the same call, on the same calibration pairs.
        streak, declared = out_of_reach.after_iteration(pairs, streak, measure="accuracy",
                                                        target=settings.TargetAccuracy, settings=settings)
        record.out_of_reach = streak > 0
        if declared and result.out_of_reach_iteration is None:
            result.out_of_reach_iteration = iteration
            stopped = settings.StopTrainingWhenOutOfReach
        remaining = []
        for i, scores in zip(pool, pool_scores, strict=True):
            if threshold is not None and scores.max() >= threshold:
                record.machine_labeled += 1
                record.machine_correct += int(scores.argmax() == gold[i])
            else:
                score = (noise.random() if rule == "random-sampling"
                         else sampling.ambiguity(list(scores), strategy))
                remaining.append({"id": i, "ambiguity": score,
                                  **({"sketch": dataset.sketches[i]} if dataset.sketches else {})})
        iteration += 1
        batch = batches.next_batch(
            lambda remaining=remaining: iter(remaining), len(remaining), size=settings.MaxConcurrentTaskCount,
            calibration_size=settings.CalibrationSampleSize, scored=not stopped,
            rng=batches.iteration_rng(seed, iteration), max_duplicate_bits=settings.NearDuplicateMaxBits,
            min_calibration=batches.least_calibration(settings),
        )
        chosen = {item["id"] for item in batch}
        pool = [item["id"] for item in remaining if item["id"] not in chosen]
    result.human_items = human
    result.human_labeled = len(human)
    result.machine_labeled = sum(it.machine_labeled for it in result.iterations)
    result.machine_correct = sum(it.machine_correct for it in result.iterations)
    result.seconds = time.perf_counter() - started
    return result
