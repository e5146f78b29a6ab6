"""Benchmark rows (one per run) and the summary table per data set and rule."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict

from benchmarks.loop import BILLED_MINUTES_PER_SAGEMAKER_JOB, IterationResult, RunResult
from benchmarks.machine import cpu_description
from benchmarks.oracle import ratio
from labeling.models.job import JobConfig
from labeling.task_types import TaskType

# The rules whose iterations results.md lists one by one (the product's); runs.csv has every rule's.
PER_ITERATION_RULES = ("guarantee", "guarantee-auto")


def cost(result: RunResult, settings: JobConfig, task: TaskType) -> tuple[float, float]:
    """(the run's cost, labeling everything by hand), USD: human answers plus SageMaker instance time."""
    hours = BILLED_MINUTES_PER_SAGEMAKER_JOB / 60
    trainings = result.sagemaker_jobs // 3
    sagemaker = hours * (trainings * task.training_usd_per_hour + 2 * trainings * task.inference_usd_per_hour)
    per_item = settings.NumberOfHumanWorkersPerDataObject * settings.HumanPricePerAnswerUSD
    return result.human_labeled * per_item + sagemaker, result.items * per_item


def _share(count: int | None, pool: int) -> float | None:
    return None if count is None or not pool else round(count / pool, 4)


def _gap(it: IterationResult) -> dict:
    """The iteration against the oracle cut: shares of its pool, and product over oracle (None: undefined)."""
    if it.oracle_labeled is None:
        return {"pool": it.pool, "oracleLabeled": None, "oracleShare": None, "productShare": None,
                "oracleRatio": None}
    product_over_oracle = ratio(it.machine_labeled, it.oracle_labeled)
    return {
        "pool": it.pool, "oracleLabeled": it.oracle_labeled,
        "oracleShare": _share(it.oracle_labeled, it.pool),
        "productShare": _share(it.machine_labeled, it.pool),
        "oracleRatio": None if product_over_oracle is None else round(product_over_oracle, 4),
    }


def row(result: RunResult, settings: JobConfig, task: TaskType) -> dict:
    spent, all_human = cost(result, settings, task)
    per_iteration = [
        {"iteration": it.iteration, "humanBatch": it.human_batch, "threshold": it.threshold,
         "machineLabeled": it.machine_labeled, "machineCorrect": it.machine_correct, **_gap(it),
         "outOfReach": it.out_of_reach}
        for it in result.iterations
    ]
    modeled = [it for it in result.iterations if it.oracle_labeled is not None]
    oracle_labeled = sum(it.oracle_labeled for it in modeled)
    job_ratio = ratio(result.machine_labeled, oracle_labeled)
    return {
        "dataset": result.dataset, "rule": result.rule, "seed": result.seed, "items": result.items,
        "human_labeled": result.human_labeled, "machine_labeled": result.machine_labeled,
        "machine_share": round(result.machine_labeled / result.items, 4),
        "machine_accuracy": None if result.machine_accuracy is None else round(result.machine_accuracy, 4),
        "output_accuracy": round(result.output_accuracy, 4),
        "iterations": len(result.iterations),
        # Iterations whose accepted labels fell below target, of those that accepted any.
        "iterations_below_target": sum(
            1 for it in result.iterations
            if it.machine_labeled and it.machine_correct / it.machine_labeled < settings.TargetAccuracy
        ),
        "iterations_accepting": sum(1 for it in result.iterations if it.machine_labeled),
        "cost_usd": round(spent, 2), "all_human_usd": round(all_human, 2),
        "saved_share": round(1 - spent / all_human, 4),
        "seconds": round(result.seconds, 2),
        "per_iteration": json.dumps(per_iteration),
        # Added after the columns above, which keep their order for older readers of runs.csv.
        "oracle_labeled": oracle_labeled,
        "oracle_share_first": _share(modeled[0].oracle_labeled, modeled[0].pool) if modeled else None,
        "product_share_first": _share(modeled[0].machine_labeled, modeled[0].pool) if modeled else None,
        "oracle_ratio": None if job_ratio is None else round(job_ratio, 4),
        # The iteration that declared the target out of reach (logic/out_of_reach.py), and the models trained.
        "out_of_reach_iteration": result.out_of_reach_iteration,
        "models_trained": result.sagemaker_jobs // 3,
        # The CPU the models trained on (benchmarks/machine.py: the same seed gives other models on other CPUs).
        "cpu": cpu_description(),
    }


def _pct(values: list[float]) -> str:
    return f"{100 * statistics.mean(values):.1f} ({100 * min(values):.1f}-{100 * max(values):.1f})"


def _pct_or_dash(values: list[float]) -> str:
    return _pct(values) if values else "-"


def _modeled_iterations(r: dict) -> list[dict]:
    return [it for it in json.loads(r["per_iteration"]) if it.get("oracleShare") is not None]


def _job_ratio(group: list[dict]) -> str:
    defined = [r["oracle_ratio"] for r in group if r["oracle_ratio"] is not None]
    undefined = len(group) - len(defined)
    return _pct_or_dash(defined) + (f", undefined in {undefined}" if undefined else "")


def _accepting_ratio(group: list[dict]) -> str:
    """Product over oracle in the iterations that accepted any labels, summed over the group's runs."""
    its = [it for r in group for it in _modeled_iterations(r) if it["machineLabeled"]]
    pooled = ratio(sum(it["machineLabeled"] for it in its), sum(it["oracleLabeled"] for it in its))
    return "-" if pooled is None else f"{100 * pooled:.1f}"


def per_iteration_markdown(rows: list[dict], rule: str) -> str:
    """One line per data set and iteration of `rule`: the oracle's share of the pool beside the product's."""
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in rows:
        if r["rule"] == rule:
            for it in _modeled_iterations(r):
                groups[(r["dataset"], it["iteration"])].append(it)
    lines = [
        f"Per iteration, rule {rule} (iteration 0 is the model trained on the first batch). Shares of the "
        "pool the threshold was applied to, mean (min-max) over the runs that reached the iteration; "
        "product / oracle is the iteration's machine labels over the oracle cut's, summed over those runs.",
        "",
        "| data set | iteration | runs | pool | oracle share % | product share % | product / oracle % | "
        "runs where the oracle labels nothing |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, iteration), its in sorted(groups.items()):
        pooled = ratio(sum(it["machineLabeled"] for it in its), sum(it["oracleLabeled"] for it in its))
        lines.append(
            f"| {dataset} | {iteration} | {len(its)} | {statistics.mean(it['pool'] for it in its):.0f} | "
            f"{_pct([it['oracleShare'] for it in its])} | {_pct([it['productShare'] for it in its])} | "
            f"{'undefined' if pooled is None else f'{100 * pooled:.1f}'} | "
            f"{sum(1 for it in its if it['oracleLabeled'] == 0)} |"
        )
    return "\n".join(lines) + "\n"


def markdown(rows: list[dict], settings: JobConfig) -> str:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["rule"])].append(r)
    lines = [
        f"Target accuracy {settings.TargetAccuracy:.0%} at {settings.ConfidenceLevel:.0%} confidence; "
        f"human batches of {settings.MaxConcurrentTaskCount} with {settings.CalibrationSampleSize} "
        "calibration items. Percentages: mean (min-max) over seeds.",
        "",
        "| data set | rule | runs | machine-labeled % | machine-label accuracy % | runs at target | "
        "iterations below target | output accuracy % | human labels | cost saved vs all-human % | wall s | "
        "oracle share, first iteration % | product share, first iteration % | oracle share, all iterations % | "
        "machine-labeled / oracle % | accepting iterations: product / oracle % | models trained | "
        "runs declared out of reach |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, rule), group in groups.items():
        accuracies = [r["machine_accuracy"] for r in group if r["machine_accuracy"] is not None]
        at_target = sum(1 for a in accuracies if a >= settings.TargetAccuracy)
        lines.append(
            f"| {dataset} | {rule} | {len(group)} | {_pct([r['machine_share'] for r in group])} | "
            f"{_pct(accuracies) if accuracies else '-'} | {at_target}/{len(accuracies)} | "
            f"{sum(r['iterations_below_target'] for r in group)}/{sum(r['iterations_accepting'] for r in group)} | "
            f"{_pct([r['output_accuracy'] for r in group])} | "
            f"{statistics.mean(r['human_labeled'] for r in group):.0f} | "
            f"{_pct([r['saved_share'] for r in group])} | {statistics.mean(r['seconds'] for r in group):.1f} | "
            f"{_pct_or_dash([r['oracle_share_first'] for r in group if r['oracle_share_first'] is not None])} | "
            f"{_pct_or_dash([r['product_share_first'] for r in group if r['product_share_first'] is not None])} | "
            f"{_pct_or_dash([it['oracleShare'] for r in group for it in _modeled_iterations(r)])} | "
            f"{_job_ratio(group)} | {_accepting_ratio(group)} | "
            f"{statistics.mean(r['models_trained'] for r in group):.1f} | "
            f"{sum(1 for r in group if r['out_of_reach_iteration'] is not None)} |"
        )
    lines += [
        "",
        "Oracle cut (benchmarks/oracle.py): with the iteration's model, the largest share of its pool one "
        "confidence threshold labels at true accuracy >= target, known from the answers. "
        "Machine-labeled / oracle: the run's machine labels over the sum of its iterations' oracle cuts, "
        "mean (min-max) over runs; a later iteration's cut may count again an item an earlier cut would have "
        "taken, so it is low where the product leaves much to later iterations. Accepting iterations: the "
        "machine labels of the iterations that accepted any over their oracle cuts, summed over runs.",
    ]
    for rule in PER_ITERATION_RULES:
        if any(r["rule"] == rule for r in rows):
            lines += ["", per_iteration_markdown(rows, rule).rstrip("\n")]
    return "\n".join(lines) + "\n"
