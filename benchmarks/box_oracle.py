"""The box oracle (benchmarks/oracle.py's oracle_box_cut) read from a finished detection job's output folder.

Per iteration k whose model predicted on the pool, the job's own files give the pool
(activelearning/iteration-k/pool/part-*.jsonl, each line with its manifest `id`) and the
model's answer for each pool image, confidence included (inference/iteration-k/pool/
part-*.jsonl.out, batch transform's one line per input line, in order). The gold boxes
are the data set's answers (line `id` of the answers manifest, which has the input
manifest's order), so each pool image's true quality is box_metric.image_quality of the
model's boxes against the gold ones: the measure the job's promise is about. The oracle
cut is then the most one threshold could have labeled from that pool at the target.

The product's share is the iteration's `machineLabeled` in report.json, so product over
oracle compares the same pool under the same model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.oracle import oracle_box_cut, ratio
from benchmarks.scoring import answer_attribute
from labeling.logic.box_metric import image_quality


@dataclass(frozen=True)
class OracleIteration:
    iteration: int
    pool: int
    machine_labeled: int
    oracle_labeled: int


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pool_qualities(output: Path, k: int, answers: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]] | None:
    """(confidence, true image quality) of each pool image of iteration k; None when no model predicted on it."""
    parts = sorted((output / "activelearning" / f"iteration-{k}" / "pool").glob("part-*.jsonl"))
    predictions = output / "inference" / f"iteration-{k}" / "pool"
    if not parts or not all((predictions / (part.name + ".out")).is_file() for part in parts):
        return None
    attribute = answer_attribute(answers[0])
    pool = []
    for part in parts:
        items, answered = _lines(part), _lines(predictions / (part.name + ".out"))
        for item, prediction in zip(items, answered, strict=True):
            gold = answers[item["id"]][attribute]["annotations"]
            pool.append((float(prediction["confidence"]), image_quality(prediction["label"]["annotations"], gold)))
    return pool


def oracle_iterations(output: Path, answers: Sequence[Mapping[str, Any]], report: Mapping[str, Any]
                      ) -> list[OracleIteration]:
    """The oracle cut beside the job's machine labels, for every iteration whose model labeled from a pool."""
    target = report["promise"]["target"]
    found = []
    for iteration in report["iterations"]:
        pool = pool_qualities(output, iteration["iteration"], answers)
        if pool is not None:
            found.append(OracleIteration(iteration["iteration"], len(pool), iteration["machineLabeled"],
                                         oracle_box_cut(pool, target)))
    return found


def oracle_figures(iterations: Sequence[OracleIteration]) -> dict[str, Any]:
    """The pipeline row's oracle columns: the oracle's labels summed over iterations, its share of the first
    iteration's pool, and the job's machine labels over the oracle's (None: undefined, as in oracle.ratio)."""
    oracle_labeled = sum(it.oracle_labeled for it in iterations)
    job_ratio = ratio(sum(it.machine_labeled for it in iterations), oracle_labeled)
    first = iterations[0] if iterations else None
    return {
        "oracle_labeled": oracle_labeled if iterations else None,
        "oracle_share_first": round(first.oracle_labeled / first.pool, 4) if first and first.pool else None,
        "oracle_ratio": None if job_ratio is None else round(job_ratio, 4),
        "per_iteration_oracle": json.dumps([[it.iteration, it.pool, it.machine_labeled, it.oracle_labeled]
                                            for it in iterations]),
    }
