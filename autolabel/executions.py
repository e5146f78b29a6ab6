"""The job's executions on the local cloud: started (by the upload, or as a resume), followed step by
step, and stopped (Ctrl-C), as Step Functions runs them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, TextIO

import boto3

from autolabel.localcloud.asl import ACCOUNT, REGION
from autolabel.localcloud.cloud import LocalCloud
from autolabel.localcloud.workforce import SimulatedWorkforce
from autolabel.run_errors import RunError
from autolabel.run_record import RunRecord
from labeling.layout import JobLayout
from labeling.logic import out_of_reach

# States after which the job's counts are worth showing.
PROGRESS_STATES = {"SelectSample", "ConsolidateAnnotations", "ApplyThreshold", "SelectAmbiguous", "ConsolidateAudit"}
# How long a stop waits for the execution to say it stopped (Ctrl-C must end the run within seconds).
STOP_SECONDS = 3
# The function that writes a stopped job's outputs (labeling/handlers/record_stop.py).
RECORD_STOP = "labeling.handlers.record_stop.handler"


def print_progress(out: TextIO, state: str, output: dict[str, Any]) -> None:
    counts = output.get("counts", {})
    line = (f"[{state:>22}] iteration {output.get('iteration', 0)}: human {counts.get('humanLabeled', 0)}, "
            f"machine {counts.get('machineLabeled', 0)}, in human batch {counts.get('inHumanBatch', 0)}, "
            f"unlabeled pool {counts.get('pool', 0)} of {counts.get('total', '?')}")
    threshold = output.get("threshold")
    if state == "ApplyThreshold" and threshold:
        value = threshold.get("value")
        line += (f"; threshold {value:g} (calibration {threshold['measure']} "
                 f"{threshold['estimate']:.3f}, "
                 f"lower bound {threshold.get('lowerBound'):.3f})" if value is not None
                 else "; no threshold met the target: nothing machine-labeled")
    streak, declared = output.get("outOfReachStreak") or 0, output.get("outOfReach")
    if state == "ApplyThreshold" and streak:
        line += f"; the target looks out of this model's reach ({streak} iteration(s) in a row)"
    print(line, file=out, flush=True)
    if state == "ApplyThreshold" and declared and declared.get("iteration") == output.get("iteration"):
        print(f"{'':>24} {out_of_reach.describe(declared)}", file=out, flush=True)


def history(sfn, execution_arn: str) -> list[dict]:
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                         **({"nextToken": token} if token else {}))
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return events


def wait(cloud: LocalCloud, execution_arn: str, workforce: SimulatedWorkforce | None, out: TextIO) -> dict:
    sfn = boto3.client("stepfunctions")
    seen = 0
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        events = history(sfn, execution_arn)
        for event in events[seen:]:
            details = event.get("stateExitedEventDetails")
            if details and details["name"] in PROGRESS_STATES:
                print_progress(out, details["name"], json.loads(details.get("output") or "{}"))
        seen = len(events)
        if described["status"] != "RUNNING":
            return described
        if workforce and workforce.errors:
            raise RunError(f"the simulated workforce stopped: {workforce.errors[0]}")
        time.sleep(0.5)


def wait_for_execution(job: str, state_machine_arn: str, timeout: float = 60) -> str:
    sfn = boto3.client("stepfunctions")
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{state_machine_arn.rsplit(':', 1)[-1]}:{job}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executions = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
        if any(e["executionArn"] == arn for e in executions):
            return arn
        time.sleep(0.1)
    raise RunError(f"no execution started for job {job}; the upload trigger did not fire")


def start_execution(cloud: LocalCloud, job: str, record: RunRecord, manifest: Path, layout: JobLayout,
                     out: TextIO) -> str:
    """The execution that runs (or goes on with) the job: the upload's, or a resume's."""
    if record.started:  # go on from the job's files (labeling/logic/resume.py)
        record.resumes += 1
        name = f"{job}-resume-{record.resumes}"
        arn = boto3.client("stepfunctions").start_execution(
            stateMachineArn=cloud.state_machine_arn, name=name,
            input=json.dumps({"resume": {"bucket": cloud.bucket, "job": job}}),
        )["executionArn"]
        print(f"job {job} resuming ({cloud.restored_objects} files kept from before)", file=out, flush=True)
        return arn
    boto3.client("s3").upload_file(str(manifest), cloud.bucket, layout.input_manifest)  # the trigger
    print(f"uploaded s3://{cloud.bucket}/{layout.input_manifest}; job {job} starting", file=out, flush=True)
    arn = wait_for_execution(job, cloud.state_machine_arn)
    record.started = True
    return arn


def stop(cloud: LocalCloud, execution_arn: str, out: TextIO) -> dict[str, Any]:
    """Stop the execution and write the job's outputs so far, as the stack does on a stop: Step
    Functions' status-change event to the RecordStop function (infra/stack.py)."""
    sfn = boto3.client("stepfunctions")
    sfn.stop_execution(executionArn=execution_arn, cause="stopped by the user (Ctrl-C)")
    deadline = time.monotonic() + STOP_SECONDS
    described = sfn.describe_execution(executionArn=execution_arn)
    while described["status"] == "RUNNING" and time.monotonic() < deadline:  # moto stops it in its thread
        time.sleep(0.1)
        described = sfn.describe_execution(executionArn=execution_arn)
    result, failed = cloud.registry.invoke(cloud.function_for_handler(RECORD_STOP), {
        "source": "aws.states", "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": execution_arn, "stateMachineArn": cloud.state_machine_arn,
                   "status": described["status"], "input": described.get("input", "{}")},
    })
    if failed:  # the job is kept all the same: resume continues it
        print(f"the outputs so far could not be written ({result.get('errorType')}: {result.get('errorMessage')}); "
              f"details in {cloud.function_logs.path}", file=out, flush=True)
    return described
