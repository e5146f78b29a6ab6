"""The autolabel command line."""

from __future__ import annotations

import argparse
import atexit
import inspect
import math
import sys
import tempfile
import traceback
import typing
from collections.abc import Callable
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from autolabel import workers
from autolabel.datasets import write_bbc_news
from autolabel.deployed import commands as deployed
from autolabel.images import IMAGE_DATASETS
from autolabel.job_settings_file import JobSettingsFileError, read_job_settings
from autolabel.localcloud.cloud import SynthesizedApp
from autolabel.localcloud.workforce import AnswersError
from autolabel.runner import (
    MAX_WORKERS,
    SETTING_OPTIONS,
    WORKFORCES,
    RunError,
    RunRequest,
    RunStopped,
    resume,
    run,
)
from labeling.logic.promise import PromiseName
from labeling.models.job import JobConfig
from labeling.task_types import TASK_TYPES

DATASETS = {"bbc-news": write_bbc_news, **IMAGE_DATASETS}
# Options of `autolabel dataset`, each passed to the data sets whose writer takes it.
DATASET_OPTIONS = ("limit", "count", "seed")
# What each job.json setting that `autolabel run` takes means; its option is SETTING_OPTIONS',
# its range and default are JobConfig's, so that --help and the checks say what the pipeline does.
SETTING_HELP = {
    "TargetAccuracy": "classification: share of machine labels that must be right",
    "TargetMeanIoU": "object detection: mean IoU that machine-labeled images must reach",
    "MaxConcurrentTaskCount": "items sent to humans per iteration",
    "CalibrationSampleSize": "random part of each human batch, held out to calibrate the threshold "
                             "('auto': sized to each pool, beside --human-batch-size less 100 ambiguous items)",
    "MaxInvalidLinePercentage": "label the good lines unless more than this %% of the manifest's lines are bad",
}
# The seed also seeds NumPy in the containers, which takes 0 to 2**32 - 1.
SEED_RANGE = (0, 2**32 - 1)
BOUND_WORDS = {"ge": "at least", "gt": "above", "le": "at most", "lt": "below"}


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{'a whole number' if kind is int else 'a number'} is needed, not {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"a finite number is needed, not {text!r}")
    return value


def _bounded(kind: type, bounds: dict[str, float]) -> Callable[[str], float | int]:
    """An argparse type: a number of `kind` within `bounds` ({"ge": 10, "lt": 1, ...})."""
    checks = {"ge": lambda v, b: v >= b, "gt": lambda v, b: v > b, "le": lambda v, b: v <= b,
              "lt": lambda v, b: v < b}

    def parse(text: str) -> float | int:
        value = _number(text, kind)
        if not all(checks[name](value, bound) for name, bound in bounds.items()):
            allowed = " and ".join(f"{BOUND_WORDS[name]} {bound:g}" for name, bound in bounds.items())
            raise argparse.ArgumentTypeError(f"must be {allowed}, not {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _number_and_words(field: str) -> tuple[type, list[Any], tuple[str, ...]]:
    """A number setting's type, its bounds' metadata, and the words it also takes ("auto")."""
    info = JobConfig.model_fields[field]
    kind, metadata, words = info.annotation, list(info.metadata), ()
    if get_origin(kind) in (Union, UnionType):  # e.g. Annotated[int, Field(ge=10)] | Literal["auto"]
        parts = get_args(kind)
        words = tuple(word for part in parts if get_origin(part) is Literal for word in get_args(part))
        (number,) = [part for part in parts if get_origin(part) is not Literal]
        kind, metadata = get_args(number)[0], [*metadata, *get_args(number)[1:]]
        metadata = [rule for entry in metadata for rule in getattr(entry, "metadata", [entry])]
    assert isinstance(kind, type), f"{field} is a number setting"  # SETTING_OPTIONS: int and float fields
    return kind, metadata, words


def _setting_type(field: str) -> Callable[[str], float | int | str]:
    kind, metadata, words = _number_and_words(field)
    bounds = {name: getattr(rule, name) for rule in metadata for name in BOUND_WORDS if hasattr(rule, name)}
    number = _bounded(kind, bounds)
    if not words:
        return number

    def parse(text: str) -> float | int | str:
        if text in words:
            return text
        try:
            return number(text)
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"{error} (or {' or '.join(map(repr, words))})") from None

    parse.__name__ = kind.__name__
    return parse


def _add_settings(run_cmd: argparse.ArgumentParser) -> None:
    for field, meaning in SETTING_HELP.items():
        default = JobConfig.model_fields[field].default
        kind, _, words = _number_and_words(field)
        metavar = "N" if kind is int else "X"
        run_cmd.add_argument(SETTING_OPTIONS[field], type=_setting_type(field), dest=field,
                             metavar="|".join((metavar, *words)),
                             help=f"{meaning}; job.json's {field} (default "
                                  f"{default if isinstance(default, str) else format(default, 'g')})")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autolabel", description="Label data sets with humans and models.")
    commands = parser.add_subparsers(dest="command", required=True)

    run_cmd = commands.add_parser("run", help="run a labeling job on the local cloud")
    run_cmd.add_argument("manifest", type=Path, help="input manifest (JSON Lines, Ground Truth's format)")
    run_cmd.add_argument("--task-type", choices=sorted(TASK_TYPES), help="required unless --job-config has TaskType")
    run_cmd.add_argument("--labels", required=True, type=Path, help="label categories (labels.json)")
    run_cmd.add_argument("--output", required=True, type=Path,
                         help="a new or empty folder for the job's output")
    run_cmd.add_argument("--overwrite", action="store_true",
                         help="replace what an earlier autolabel run wrote in --output (only those files)")
    run_cmd.add_argument("--workforce", default="simulated", choices=WORKFORCES,
                         help="who answers human tasks: simulated (from --answers) or web (people at the "
                              "labeling page, with the sign-in links the run prints); both through the task API "
                              "on 127.0.0.1 (default %(default)s)")
    run_cmd.add_argument("--answers", type=Path,
                         help="the simulated workforce's answers (a Ground Truth output manifest)")
    run_cmd.add_argument("--port", type=_bounded(int, {"ge": 1, "le": 65535}), metavar="N",
                         help="the labeling page's and task API's port on 127.0.0.1 (default: a free one)")
    run_cmd.add_argument("--workers", type=_bounded(int, {"ge": 1, "le": MAX_WORKERS}), metavar="K",
                         help=f"how many workers (web: one sign-in link each); 1 to {MAX_WORKERS} (default 1)")
    _add_settings(run_cmd)
    run_cmd.add_argument("--promise", choices=typing.get_args(PromiseName), dest="Promise",
                         help="what the target promises: each iteration's machine labels, all of them together, "
                              "or the whole output with human labels; job.json's Promise (default EachIteration)")
    run_cmd.add_argument("--job-name", help="1-40 letters, digits or hyphens (default: from the manifest's name)")
    run_cmd.add_argument("--seed", type=_bounded(int, {"ge": SEED_RANGE[0], "le": SEED_RANGE[1]}),
                         help="draws the random samples and seeds the models; job.json's Seed (default "
                              f"{JobConfig.model_fields['Seed'].default})")
    run_cmd.add_argument("--job-config", type=Path, metavar="JOB.json",
                         help="the job's settings, as a deployed job's job.json (events/job.json lists them: the "
                              "audit, the out-of-reach stop, stopping conditions, ...); options override them")
    run_cmd.add_argument("--workdir", type=Path, help="where the local cloud keeps the job's state, logs and caches "
                         "(default: OUTPUT/.autolabel, where autolabel resume finds it)")

    resume_cmd = commands.add_parser(
        "resume", help="continue a job that autolabel run left stopped (Ctrl-C), failed or killed; "
                       "with --stack, a deployed job that was stopped or failed")
    resume_cmd.add_argument("folder", metavar="FOLDER|JOB",
                            help="the run's --output folder (or its --workdir); with --stack, the deployed job's name")
    deployed.add_stack_options(resume_cmd, stack_default=None)
    export = commands.add_parser("dataset", help="write a packaged or synthetic data set out as a job's files")
    export.add_argument("name", choices=sorted(DATASETS))
    export.add_argument("--to", required=True, type=Path)
    export.add_argument("--limit", type=int, help="mnist: how many of the 10,000 test images (default 2,000)")
    export.add_argument("--count", type=int, help="shapes, digit-scenes: how many scenes (default 1,500)")
    export.add_argument("--seed", type=int, help="mnist: which images; shapes, digit-scenes: the scenes (default 0)")
    workers.add_parser(commands)  # autolabel workers add EMAIL (the deployed stack's page)
    deployed.add_parsers(commands, _add_settings)  # submit, status, stop, download, list, model deploy
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


def _run_job(args: argparse.Namespace, parser: argparse.ArgumentParser, app: SynthesizedApp | None) -> int:
    # Only the settings given: the rest are --job-config's, or JobConfig's defaults, as in job.json.
    options = {field: getattr(args, field) for field in (*SETTING_HELP, "Promise") if getattr(args, field) is not None}
    if args.seed is not None:
        options["Seed"] = args.seed
    try:
        written = read_job_settings(args.job_config) if args.job_config is not None else {}
    except JobSettingsFileError as error:
        print(f"autolabel: {error}", file=sys.stderr)
        return 1
    written_type = written.get("TaskType")
    if args.task_type and written_type not in (None, args.task_type):
        # Other options override their fields; the task type picks the labels' shape and the model, so
        # two different ones are a mistake in one of them, not an override.
        parser.error(f"--task-type {args.task_type} and TaskType {written_type!r} in {args.job_config} "
                     "disagree: give one, or make them the same")
    task_type = args.task_type or written_type
    if task_type is None:
        parser.error("give --task-type" + (f", or TaskType in {args.job_config}" if args.job_config else ""))
    settings = {**{field: value for field, value in written.items() if field != "TaskType"}, **options}
    request = RunRequest(
        manifest=args.manifest, task_type=task_type, labels=args.labels, output=args.output,
        overwrite=args.overwrite, answers=args.answers, workforce=args.workforce,
        job_name=args.job_name, settings=settings, workdir=args.workdir, port=args.port, workers=args.workers,
        settings_file=None if args.job_config is None else str(args.job_config),
    )
    return _reporting(lambda: run(request, app=app))


def _resume_job(args: argparse.Namespace, app: SynthesizedApp | None) -> int:
    return _reporting(lambda: resume(Path(args.folder), app=app))


def _reporting(job: Callable[[], object]) -> int:
    try:
        job()
    except RunStopped as stopped:
        _quiet_cdk_runtime()
        print(f"autolabel: {stopped}", file=sys.stderr)
        return 130
    except (RunError, AnswersError) as error:
        print(f"autolabel: {error}", file=sys.stderr)
        logs = getattr(error, "logs", None)
        if logs:
            print(f"autolabel: logs are in {logs}", file=sys.stderr)
        return 1
    return 0


def _quiet_cdk_runtime() -> None:
    """Ctrl-C reaches the CDK's Node process too (it shares the terminal's process group), and the
    exit hook of jsii (which runs it) would then print a BrokenPipeError traceback: a Node process
    that is gone already needs no goodbye, so its hook is swapped for one that stays quiet."""
    if "aws_cdk" not in sys.modules:  # the CDK never ran: no Node process
        return
    try:
        from jsii._runtime import kernel

        # jsii's one Node process (memoized: started with the CDK), a private attribute of its provider.
        process = kernel.provider._process  # type: ignore[attr-defined]
    except (ImportError, AttributeError):  # jsii moved it: the traceback is only noise
        return
    atexit.unregister(process.stop)
    atexit.register(_stop_quietly, process)


def _stop_quietly(process) -> None:
    try:
        process.stop()
    except OSError:
        pass


def _unexpected(error: BaseException) -> int:
    """A bug, not the user's input: one line for them, the traceback in a file for us."""
    with tempfile.NamedTemporaryFile("w", prefix="autolabel-error-", suffix=".log", delete=False) as log:
        traceback.print_exception(error, file=log)
    print(f"autolabel: unexpected error ({type(error).__name__}: {error}); this is a bug in autolabel, "
          f"not in your files. Details: {log.name}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None, *, app: SynthesizedApp | None = None) -> int:
    """`app`: an already synthesized CDK app (tests share one), else `run` synthesizes it."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command in deployed.COMMANDS or (args.command == "resume" and args.stack):
            return deployed.run(args)
        if args.command == "workers":
            return workers.run(args)
        if args.command == "dataset":
            return _write_dataset(args, parser)
        if args.command == "resume":
            return _resume_job(args, app)
        return _run_job(args, parser, app)
    except KeyboardInterrupt:
        _quiet_cdk_runtime()
        print("autolabel: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the last resort: no traceback reaches the user
        return _unexpected(error)


if __name__ == "__main__":
    sys.exit(main())
