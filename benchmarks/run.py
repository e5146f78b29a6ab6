"""Run the simulated labeling loop over data sets, rules and seeds; write the results.

    .venv/bin/python -m benchmarks.run                      # everything, ~10 minutes on 2 cores
    .venv/bin/python -m benchmarks.run --datasets digits --seeds 3 --out /tmp/bench

Writes <out>/runs.csv (one row per run and its iterations) and <out>/results.md
(the table committed in benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks import datasets, loop, report
from labeling.models.job import JobConfig
from labeling.task_types import task_type

# The task type each data set would be labeled as; it prices the SageMaker jobs.
TASK_TYPE = {"bbc-news": "text-classification", "digits": "image-classification", "mnist": "image-classification",
             "bbc-news-noisy": "text-classification"}
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def _run_dataset(name: str, rules: list[str], seeds: int, overrides: dict) -> list[dict]:
    data = datasets.load(name)
    settings = JobConfig(TaskType=TASK_TYPE[name], **overrides)
    rows = []
    for rule in rules:
        for seed in range(seeds):
            result = loop.simulate(data, rule, seed, settings)
            rows.append(report.row(result, settings, task_type(settings.TaskType)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(datasets.LOADERS), choices=list(datasets.LOADERS))
    parser.add_argument("--rules", nargs="+", default=list(loop.RULES), choices=list(loop.RULES))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--settings", type=json.loads, default={},
                        help='job.json overrides, e.g. \'{"CalibrationSampleSize": 150}\'')
    args = parser.parse_args(argv)
    started = time.perf_counter()
    workers = min(len(args.datasets), os.cpu_count() or 1)
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(_run_dataset, name, args.rules, args.seeds, args.settings) for name in args.datasets]
        rows = [row for future in futures for row in future.result()]
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "runs.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = report.markdown(rows, JobConfig(TaskType="text-classification", **args.settings))
    (args.out / "results.md").write_text(table)
    print(table)
    print(f"{len(rows)} runs in {time.perf_counter() - started:.0f} s; wrote {args.out}/runs.csv and results.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
