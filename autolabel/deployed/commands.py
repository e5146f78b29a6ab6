"""The job commands' parsers and their dispatch, for the CLI (autolabel/cli.py) to add.

`autolabel resume` is shared with the local runner: with --stack it resumes a deployed job
(JOB), without it the job that `autolabel run` left in a folder (cli.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from autolabel.deployed.control import resume_job, stop_job
from autolabel.deployed.download import download
from autolabel.deployed.listing import print_jobs
from autolabel.deployed.model_deploy import deploy_model
from autolabel.deployed.stack import DeployedError, DeployedStack, connect
from autolabel.deployed.status import print_status, watch
from autolabel.deployed.submit import Submission, submit
from autolabel.runner import SETTING_OPTIONS
from infra.names import STACK_NAME
from labeling.task_types import TASK_TYPES

COMMANDS = ("submit", "status", "stop", "download", "list", "model")
# Success, a refusal or an AWS error explained, and the job not ending as hoped (status of a failed job).
OK, REFUSED = 0, 1


def add_stack_options(command: argparse.ArgumentParser, *, stack_default: str | None = STACK_NAME) -> None:
    """--stack, --region, --profile: where the deployed stack is (boto3's configuration otherwise;
    AWS_ENDPOINT_URL points every call elsewhere, as boto3 itself honours it)."""
    command.add_argument("--stack", default=stack_default, metavar="NAME",
                         help=f"the deployed stack's name (default {stack_default})" if stack_default else
                         "the deployed stack's name: resume the deployed job JOB there (default: a local run's "
                         f"folder; the stack is usually {STACK_NAME})")
    command.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    command.add_argument("--profile", help="the AWS profile to use (default: your AWS configuration's)")


def _job(command: argparse.ArgumentParser) -> None:
    command.add_argument("job", help="the job's name (jobs/JOB/ in the stack's bucket)")


def add_parsers(commands: argparse._SubParsersAction,
                add_settings: Callable[[argparse.ArgumentParser], None]) -> None:
    """The deployed-stack commands under the CLI's subcommands; `add_settings` adds run's job options."""
    submit_cmd = commands.add_parser(
        "submit", help="upload a job to the deployed stack (images, job.json, labels, then the manifest, "
                       "whose upload starts it)")
    submit_cmd.add_argument("manifest", type=Path, help="input manifest (JSON Lines, Ground Truth's format); "
                            "local images it names are uploaded with it")
    submit_cmd.add_argument("--labels", required=True, type=Path, help="label categories (labels.json)")
    submit_cmd.add_argument("--job-config", type=Path, metavar="JOB.json",
                            help="the job's settings (events/job.json lists them); options below override them")
    submit_cmd.add_argument("--task-type", choices=sorted(TASK_TYPES), help="job.json's TaskType")
    add_settings(submit_cmd)
    submit_cmd.add_argument("--seed", type=int, help="job.json's Seed")
    submit_cmd.add_argument("--job-name", help="1-40 letters, digits or hyphens (default: from the manifest's name)")
    submit_cmd.add_argument("--overwrite", action="store_true",
                            help="replace the files of an earlier upload of this job name that never started")
    submit_cmd.add_argument("--wait-seconds", type=float, default=60.0, metavar="S",
                            help="how long to wait for the job's execution to start (default %(default)g)")
    add_stack_options(submit_cmd)

    status_cmd = commands.add_parser("status", help="a deployed job's counts, iteration, threshold and status")
    _job(status_cmd)
    status_cmd.add_argument("--watch", action="store_true", help="redraw it with a progress bar until the job ends")
    status_cmd.add_argument("--interval", type=float, default=5.0, metavar="S",
                            help="--watch: seconds between looks (default %(default)g)")
    add_stack_options(status_cmd)

    stop_cmd = commands.add_parser("stop", help="stop a deployed job (its outputs so far are written)")
    _job(stop_cmd)
    add_stack_options(stop_cmd)

    download_cmd = commands.add_parser("download", help="a deployed job's output manifest and report, to a folder")
    _job(download_cmd)
    download_cmd.add_argument("--to", required=True, type=Path, help="the folder to write them in")
    download_cmd.add_argument("--overwrite", action="store_true",
                              help="replace files of the same names in --to (nothing else is touched)")
    add_stack_options(download_cmd)

    list_cmd = commands.add_parser("list", help="the deployed stack's jobs and their status")
    add_stack_options(list_cmd)

    model_cmd = commands.add_parser("model", help="a deployed job's final model")
    actions = model_cmd.add_subparsers(dest="model_command", required=True, metavar="{deploy}")
    deploy_cmd = actions.add_parser(
        "deploy", help="deploy the job's final model to a SageMaker endpoint (needs the deploy extra)")
    _job(deploy_cmd)
    deploy_cmd.add_argument("--endpoint-name", help="default: JOB-iteration-N, the model's iteration")
    deploy_cmd.add_argument("--instance-type",
                            help="default: the model's inference instance type (report.json's)")
    deploy_cmd.add_argument("--instance-count", type=int, default=1, metavar="N", help="default %(default)s")
    deploy_cmd.add_argument("--no-wait", action="store_true", help="return once the endpoint is being created")
    add_stack_options(deploy_cmd)


def _settings(args: argparse.Namespace) -> dict:
    fields = [field for field in SETTING_OPTIONS if field != "TaskType" and field != "Seed"]
    settings = {field: getattr(args, field) for field in fields if getattr(args, field, None) is not None}
    if args.task_type:
        settings["TaskType"] = args.task_type
    if args.seed is not None:
        settings["Seed"] = args.seed
    return settings


def _dispatch(args: argparse.Namespace, out: TextIO) -> int:
    def connected() -> DeployedStack:
        return connect(args.stack, region=args.region, profile=args.profile)

    if args.command == "submit":  # the user's files are checked before the stack is looked up
        submit(connected, Submission(manifest=args.manifest, labels=args.labels, job_config=args.job_config,
                                     settings=_settings(args), job_name=args.job_name, overwrite=args.overwrite,
                                     wait_seconds=args.wait_seconds), out)
        return OK
    stack = connected()
    if args.command == "status":
        status = watch(stack, args.job, out, interval=args.interval) if args.watch else \
            print_status(stack, args.job, out)
        return REFUSED if status.execution_status in ("FAILED", "TIMED_OUT") else OK  # for scripts that wait
    elif args.command == "stop":
        stop_job(stack, args.job, out)
    elif args.command == "resume":
        resume_job(stack, args.folder, out)
    elif args.command == "download":
        download(stack, args.job, args.to, out, overwrite=args.overwrite)
    elif args.command == "list":
        print_jobs(stack, out)
    elif args.command == "model":
        deploy_model(stack, args.job, out, endpoint_name=args.endpoint_name, instance_type=args.instance_type,
                     instance_count=args.instance_count, wait=not args.no_wait)
    return OK


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """One deployed-stack command; 0 when done, 1 with one line why not."""
    try:
        return _dispatch(args, out or sys.stdout)
    except DeployedError as error:
        print(f"autolabel: {error}", file=sys.stderr)
        return REFUSED
