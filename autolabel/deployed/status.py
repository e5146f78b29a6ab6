"""`autolabel status JOB`: where a deployed job stands, from its execution and its files.

The counts, iteration and threshold of a running job are its last checkpoint's
(jobs/<job>/resume/checkpoint.json: the state the last step handed on); once the job's
execution has ended they are report.json's, which WriteOutput (or RecordFailure/RecordStop)
wrote. The execution's status is Step Functions'. `--watch` redraws it with a progress bar
until the execution ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TextIO

from autolabel.deployed.stack import DeployedStack, describe, read_json, require_job


@dataclass
class JobStatus:
    job: str
    execution: str | None  # the latest execution's name
    execution_status: str  # RUNNING, SUCCEEDED, FAILED, ABORTED, TIMED_OUT; NOT_STARTED without one
    job_status: str | None  # report.json's status (Completed, Stopped, Failed) once the job has ended
    step: str | None  # the last step done (checkpoint's "after")
    iteration: int
    total: int
    human: int
    machine: int
    unlabeled: int
    invalid: int
    threshold: dict[str, Any] | None  # the latest iteration's: value, measure, estimate, lowerBound
    estimated: float | None  # the machine labels' estimated accuracy (or mean IoU) so far
    failure: str | None

    @property
    def labeled(self) -> int:
        return self.human + self.machine

    @property
    def running(self) -> bool:
        return self.execution_status == "RUNNING"


def job_status(stack: DeployedStack, job: str) -> JobStatus:
    executions = require_job(stack, job)
    latest = describe(stack, executions[-1]["executionArn"]) if executions else None
    status = latest["status"] if latest else "NOT_STARTED"
    layout = stack.layout(job)
    report = None if status == "RUNNING" else read_json(stack, layout.report)
    checkpoint = read_json(stack, layout.checkpoint) or {}
    failure = read_json(stack, layout.failure) if status in ("FAILED", "TIMED_OUT") or not latest else None
    common: dict[str, Any] = {"job": job, "execution": latest["name"] if latest else None, "execution_status": status,
              "step": checkpoint.get("after"),
              "failure": (failure or {}).get("cause") or (latest or {}).get("cause") if status != "SUCCEEDED" else None}
    if report:
        counters = report["counters"]
        rows = report.get("iterations") or []
        return JobStatus(**common, job_status=report.get("status"), iteration=len(rows) - 1 if rows else 0,
                         total=counters["TotalLabeled"] + counters["Unlabeled"], human=counters["HumanLabeled"],
                         machine=counters["MachineLabeled"], unlabeled=counters["Unlabeled"],
                         invalid=counters["FailedNonRetryableError"],
                         threshold=next((row["threshold"] for row in reversed(rows) if row.get("threshold")), None),
                         estimated=(report.get("promise") or {}).get("machineLabelsEstimated"))
    state = checkpoint.get("state") or {}
    counts = state.get("counts") or {}
    human, machine, total = counts.get("humanLabeled", 0), counts.get("machineLabeled", 0), counts.get("total", 0)
    threshold = state.get("threshold")
    return JobStatus(**common, job_status=None, iteration=state.get("iteration", 0), total=total, human=human,
                     machine=machine, unlabeled=total - human - machine, invalid=counts.get("invalid", 0),
                     threshold=threshold, estimated=(threshold or {}).get("estimate"))


def _threshold_words(status: JobStatus) -> str:
    threshold = status.threshold
    if not threshold:
        return "threshold: none yet (no model trained)"
    measure = threshold.get("measure", "accuracy")
    if threshold.get("value") is None:
        return f"threshold: none met the target in iteration {status.iteration} (nothing machine-labeled then)"
    return (f"threshold: {threshold['value']:.3f}, estimated {measure} {threshold['estimate']:.3f} "
            f"(lower bound {threshold['lowerBound']:.3f})")


def describe_lines(status: JobStatus) -> list[str]:
    """The status, as `autolabel status` prints it."""
    state = status.execution_status + (f", job {status.job_status}" if status.job_status else "")
    lines = [f"job {status.job}: {state}" + (f" (execution {status.execution})" if status.execution else "")]
    lines.append(f"iteration {status.iteration}" + (f", last step {status.step}" if status.step else ""))
    lines.append(f"labeled {status.labeled} of {status.total}: human {status.human}, machine {status.machine}, "
                 f"unlabeled {status.unlabeled}, invalid {status.invalid}")
    lines.append(_threshold_words(status))
    if status.estimated is not None and status.machine:
        measure = (status.threshold or {}).get("measure", "accuracy")
        lines.append(f"machine labels' estimated {measure}: {status.estimated:.3f}")
    if status.failure:
        lines.append(f"reason: {status.failure}")
    return lines


def print_status(stack: DeployedStack, job: str, out: TextIO) -> JobStatus:
    status = job_status(stack, job)
    for line in describe_lines(status):
        print(line, file=out)
    return status


def watch(stack: DeployedStack, job: str, out: TextIO, *, interval: float = 5.0) -> JobStatus:
    """Redraw the status with a progress bar (labeled of total) until the execution ends."""
    from rich.console import Console, Group
    from rich.live import Live
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("labeled"), TimeElapsedColumn())
    bar = progress.add_task(job, total=None)
    status = job_status(stack, job)
    with Live(console=Console(file=out), refresh_per_second=4, transient=False) as live:
        while True:
            progress.update(bar, completed=status.labeled, total=status.total or None)
            live.update(Group(progress, Text("\n".join(describe_lines(status)))))
            if not status.running:
                return status
            time.sleep(interval)
            status = job_status(stack, job)
