"""The autolabel command line."""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

from autolabel.datasets import write_bbc_news
from autolabel.images import IMAGE_DATASETS
from autolabel.localcloud.workforce import AnswersError
from autolabel.runner import RunError, RunRequest, run

DATASETS = {"bbc-news": write_bbc_news, **IMAGE_DATASETS}
# Options of `autolabel dataset`, each passed to the data sets whose writer takes it.
DATASET_OPTIONS = ("limit", "count", "seed")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autolabel", description="Label data sets with humans and models.")
    commands = parser.add_subparsers(dest="command", required=True)

    run_cmd = commands.add_parser("run", help="run a labeling job on the local cloud")
    run_cmd.add_argument("manifest", type=Path, help="input manifest (JSON Lines, Ground Truth's format)")
    run_cmd.add_argument("--task-type", required=True,
                         help="text-classification, image-classification, object-detection")
    run_cmd.add_argument("--labels", required=True, type=Path, help="label categories (labels.json)")
    run_cmd.add_argument("--output", required=True, type=Path, help="folder for the job's output prefix")
    run_cmd.add_argument("--workforce", default="simulated", choices=["simulated"],
                         help="who answers human tasks (the web workforce comes with the workers' web app)")
    run_cmd.add_argument("--answers", type=Path,
                         help="the simulated workforce's answers (a Ground Truth output manifest)")
    run_cmd.add_argument("--target-accuracy", type=float, default=0.95,
                         help="classification: share of machine labels that must be right (default 0.95)")
    run_cmd.add_argument("--target-mean-iou", type=float,
                         help="object detection: mean IoU machine-labeled images must reach (default 0.6)")
    run_cmd.add_argument("--job-name")
    run_cmd.add_argument("--seed", type=int, default=0)
    run_cmd.add_argument("--human-batch-size", type=int, help="MaxConcurrentTaskCount (default 200)")
    run_cmd.add_argument("--calibration-sample-size", type=int, help="random part of each batch (default 100)")
    run_cmd.add_argument("--workdir", type=Path, help="where the local cloud keeps logs and caches")

    export = commands.add_parser("dataset", help="write a packaged or synthetic data set out as a job's files")
    export.add_argument("name", choices=sorted(DATASETS))
    export.add_argument("--to", required=True, type=Path)
    export.add_argument("--limit", type=int, help="mnist: how many of the 10,000 test images (default 2,000)")
    export.add_argument("--count", type=int, help="shapes: how many scenes (default 1,500)")
    export.add_argument("--seed", type=int, help="mnist: which images; shapes: the scenes (default 0)")
    return parser


def _write_dataset(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    writer = DATASETS[args.name]
    options = {name: getattr(args, name) for name in DATASET_OPTIONS if getattr(args, name) is not None}
    unused = sorted(set(options) - set(inspect.signature(writer).parameters))
    if unused:
        parser.error(f"{args.name} takes no " + ", ".join(f"--{name}" for name in unused))
    for name in ("limit", "count"):
        if options.get(name, 1) < 1:
            parser.error(f"--{name} must be at least 1")
    paths = writer(args.to, **options)
    for what, path in paths.items():
        print(f"{what}: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "dataset":
        return _write_dataset(args, parser)
    settings = {}
    if args.human_batch_size:
        settings["MaxConcurrentTaskCount"] = args.human_batch_size
    if args.calibration_sample_size:
        settings["CalibrationSampleSize"] = args.calibration_sample_size
    request = RunRequest(
        manifest=args.manifest, task_type=args.task_type, labels=args.labels, output=args.output,
        answers=args.answers, workforce=args.workforce, target_accuracy=args.target_accuracy,
        target_mean_iou=args.target_mean_iou,
        job_name=args.job_name, seed=args.seed, settings=settings, workdir=args.workdir,
    )
    try:
        run(request)
    except (RunError, AnswersError) as error:
        print(f"autolabel: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
