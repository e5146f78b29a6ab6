"""Run the real local pipeline on generated image data sets, several seeds, and score it against the answers.

    .venv/bin/python -m benchmarks.pipeline --datasets mnist shapes --seeds 3
    .venv/bin/python -m benchmarks.pipeline --datasets mnist --seeds 1 --size mnist=1300 --out /tmp/bench

Each run is `autolabel run` (autolabel.runner.run): the synthesized state machine on
the local cloud, the real Lambda handlers, the real model container as local
processes, the simulated workforce answering from the data set's answers. Seed S
draws the data set (which MNIST images, which scenes) and is the job's Seed. The
output manifest is then scored against the answers (benchmarks/scoring.py).

Writes <out>/pipeline-runs.csv (one row per run) and <out>/pipeline-results.md
(the table in benchmarks/README.md). The rows of data sets this run does not run are kept from
<out>/pipeline-runs.csv, so rerunning one data set into benchmarks/results replaces its rows only.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from autolabel.datasets import write_bbc_news
from autolabel.images import (
    DIGIT_SCENES_COUNT,
    SHAPES_COUNT,
    write_digit_scenes,
    write_digits,
    write_mnist,
    write_shapes,
)
from autolabel.localcloud.cloud import SynthesizedApp, synthesize
from autolabel.localcloud.workforce import AnswersError
from autolabel.runner import RunError, RunRequest, run
from benchmarks import box_oracle, pipeline_report, scoring

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class PipelineDataset:
    task_type: str
    # (folder, size, seed) -> the job's files (autolabel/images.py)
    write: Callable[[Path, int, int], dict[str, Path]]
    default_size: int
    sized: bool = True  # False: a fixed data set, the same for every seed


PIPELINE_DATASETS = {
    # MNIST: 3,000, as tests/e2e/test_image_classification.py labels (4-5 minutes on 2 idle cores).
    "mnist": PipelineDataset("image-classification",
                             lambda folder, size, seed: write_mnist(folder, limit=size, seed=seed), 3_000),
    "shapes": PipelineDataset("object-detection",
                              lambda folder, size, seed: write_shapes(folder, count=size, seed=seed), SHAPES_COUNT),
    # Hard detection scenes (autolabel/digit_scenes.py), where the box promise has to refuse part of the pool.
    "digit-scenes": PipelineDataset("object-detection", lambda folder, size, seed: write_digit_scenes(
        folder, count=size, seed=seed), DIGIT_SCENES_COUNT),
    "digits": PipelineDataset("image-classification", lambda folder, size, seed: write_digits(folder), 1_797,
                              sized=False),
    # Ground Truth recommends 5,000+ items for automated labeling: 20,000 of MNIST's 60,000 training-set
    # images, none of them an image the tests or the 3,000-image runs use (those are test-set images).
    "mnist-20k": PipelineDataset("image-classification", lambda folder, size, seed: write_mnist(
        folder, limit=size, seed=seed, training_set=True), 20_000),
    # The README's quick-start data set: 2,225 BBC News articles (text classification), the same for every seed.
    "bbc-news": PipelineDataset("text-classification", lambda folder, size, seed: write_bbc_news(folder), 2_225,
                                sized=False),
}


def _sizes(pairs: list[str]) -> dict[str, int]:
    sizes = {}
    for pair in pairs:
        name, _, size = pair.partition("=")
        if name not in PIPELINE_DATASETS or not size.isdigit() or int(size) < 1:
            raise argparse.ArgumentTypeError(f"--size takes NAME=N with NAME one of {sorted(PIPELINE_DATASETS)}")
        if not PIPELINE_DATASETS[name].sized:
            raise argparse.ArgumentTypeError(f"{name} has a fixed size")
        sizes[name] = int(size)
    return sizes


def run_once(name: str, seed: int, size: int, *, app: SynthesizedApp, workdir: Path, settings: dict,
             log: TextIO) -> dict:
    """Write the data set, run the job, score its output: one row."""
    dataset = PIPELINE_DATASETS[name]
    files = dataset.write(workdir / "data", size, seed)
    # The output labels under the answers' attribute, so both files read alike (--settings may override it).
    attribute = scoring.answer_attribute(scoring.read_lines(files["answers"])[0])
    request = RunRequest(
        manifest=files["manifest"], task_type=dataset.task_type, labels=files["labels"], answers=files["answers"],
        output=workdir / "output", workdir=workdir / "cloud", job_name=f"{name}-seed-{seed}", seed=seed,
        settings={"LabelAttributeName": attribute, **settings},
        overwrite=True,  # a rerun in the same --workdir replaces that run's own output
    )
    started = time.perf_counter()
    try:
        report = run(request, out=log, app=app)
    except (RunError, AnswersError) as error:
        return pipeline_report.failed_row(name, dataset.task_type, seed, str(error), time.perf_counter() - started)
    wall = time.perf_counter() - started
    score = scoring.score_files(request.output / "manifests" / "output" / "output.manifest", files["answers"], report)
    oracle = None
    if dataset.task_type == "object-detection":
        answers = scoring.read_lines(files["answers"])
        oracle = box_oracle.oracle_figures(box_oracle.oracle_iterations(request.output, answers, report))
    return pipeline_report.row(name, seed, score, report, wall, oracle)


def _kept_rows(out: Path, rerun: list[str]) -> list[dict]:
    """The rows already in <out>/pipeline-runs.csv of the data sets not in `rerun`."""
    written = out / "pipeline-runs.csv"
    if not written.exists():
        return []
    return [row for row in pipeline_report.read_rows(written) if row["dataset"] not in rerun]


def _write(rows: list[dict], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "pipeline-runs.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(pipeline_report.COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    table = pipeline_report.markdown(rows)
    (out / "pipeline-results.md").write_text(table)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["mnist", "shapes"], choices=list(PIPELINE_DATASETS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--size", nargs="+", default=[], metavar="NAME=N",
                        help="items per data set, e.g. mnist=1300 shapes=1500 (default mnist 3,000, shapes 1,500; "
                             "automated labeling needs at least 1,250)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--settings", type=json.loads, default={},
                        help='job.json overrides, e.g. \'{"MaxConcurrentTaskCount": 200}\'')
    parser.add_argument("--workdir", type=Path, help="keep each run's data, output and logs here (default: a "
                                                     "temporary folder, removed at the end)")
    args = parser.parse_args(argv)
    try:
        sizes = _sizes(args.size)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    root = args.workdir or Path(tempfile.mkdtemp(prefix="autolabel-bench-"))
    started = time.perf_counter()
    print(f"synthesizing the CDK app (workdir {root}) ...", flush=True)
    app = synthesize(root / "cdk.out")  # once: every run starts its own local cloud from it
    rows = _kept_rows(args.out, args.datasets)
    runs = 0
    try:
        for name in args.datasets:
            for seed in range(args.seeds):
                workdir = root / f"{name}-seed-{seed}"
                workdir.mkdir(parents=True, exist_ok=True)
                with (workdir / "progress.log").open("w") as log:
                    row = run_once(name, seed, sizes.get(name, PIPELINE_DATASETS[name].default_size), app=app,
                                   workdir=workdir, settings=args.settings, log=log)
                rows.append(row)
                runs += 1
                _write(rows, args.out)  # after every run, so a long benchmark shows its progress
                print(f"{name} seed {seed}: " + (
                    f"failed after {row['wall_seconds']} s: {row['error']}" if row["error"] else
                    f"{row['machine_labeled']} of {row['items']} machine-labeled, target met {row['met_target']}, "
                    f"{row['wall_seconds']} s"), flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    print(_write(rows, args.out))
    print(f"{runs} runs in {time.perf_counter() - started:.0f} s; wrote {args.out}/pipeline-runs.csv and "
          "pipeline-results.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
