"""`autolabel model deploy JOB`: the job's final model on a SageMaker real-time endpoint.

The model is the one report.json names as `finalActiveLearningModel` (WriteOutput writes it: the
model of the job's last iteration that trained one; Ground Truth's FinalActiveLearningModelArn),
already a SageMaker model, so deploying it is an endpoint configuration and an endpoint. These
are made with the SageMaker Python SDK (`sagemaker-core`, the `deploy` extra: pip install
'autolabel[deploy]'), imported only here: the Lambda functions never carry it.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from botocore.exceptions import ClientError

from autolabel.deployed.stack import DeployedError, DeployedStack, aws_errors, read_json, require_job
from labeling.task_types import task_type

FINAL_MODEL = "finalActiveLearningModel"  # report.json's key (functions/labeling/logic/report.py)
WAIT_POLL_SECONDS = 15.0  # an endpoint takes minutes to come up
SDK_MISSING = ("autolabel model deploy needs the SageMaker Python SDK, which is an optional extra: "
               "pip install 'autolabel[deploy]' (or .venv/bin/pip install -e '.[deploy]')")


def final_model(stack: DeployedStack, job: str) -> dict[str, Any]:
    """report.json's finalActiveLearningModel; refuses a job without one."""
    executions = require_job(stack, job)
    if executions and executions[-1]["status"] == "RUNNING":
        raise DeployedError(f"job {job} is still running; its final model is known when it ends "
                            f"(autolabel status {job} --watch)")
    report = read_json(stack, stack.layout(job).report)
    if report is None:
        raise DeployedError(f"job {job} has no report.json yet, which names its final model; "
                            f"autolabel status {job} says where it stands")
    if FINAL_MODEL not in report and report.get("automatedLabeling") is False:
        report[FINAL_MODEL] = None  # a humans-only job, reported before the field existed
    if FINAL_MODEL not in report:
        raise DeployedError(f"job {job}'s report.json has no {FINAL_MODEL}: it was written by an autolabel "
                            "that did not record the model; deploy the model by name with the SageMaker console")
    model = report[FINAL_MODEL]
    if not model:
        raise DeployedError(f"job {job} trained no model (a job of fewer than 1,250 items is labeled by humans "
                            "only), so there is none to deploy")
    return model


def default_endpoint_name(job: str, model: dict[str, Any]) -> str:
    # Endpoint names: 63 letters, digits and hyphens; a job name has 40 at most.
    return f"{job}-iteration-{model['iteration']}"


def deploy_model(stack: DeployedStack, job: str, out: TextIO, *, endpoint_name: str | None = None,
                 instance_type: str | None = None, instance_count: int = 1, wait: bool = True,
                 poll_seconds: float = WAIT_POLL_SECONDS) -> dict[str, Any]:
    """Create the endpoint; DescribeEndpoint's answer (InService once waited for)."""
    try:
        from sagemaker.core.helper.session_helper import Session, production_variant
    except ImportError:
        raise DeployedError(SDK_MISSING) from None
    model = final_model(stack, job)
    name = endpoint_name or default_endpoint_name(job, model)
    instance_type = instance_type or model.get("inferenceInstanceType") or _pinned_instance(model)
    sagemaker = stack.client("sagemaker")
    with aws_errors("sagemaker:DescribeModel, CreateEndpointConfig, CreateEndpoint and DescribeEndpoint"):
        try:
            sagemaker.describe_model(ModelName=model["modelName"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            raise DeployedError(f"the model {model['modelName']} of job {job} is no longer in SageMaker (deleted?); "
                                f"it was made from {model['modelArtifacts']}") from None
        if _endpoint(sagemaker, name) is not None:
            raise DeployedError(f"an endpoint {name} exists already; give another --endpoint-name")
        session = Session(boto_session=stack.session, sagemaker_client=sagemaker)
        variant = production_variant(model_name=model["modelName"], instance_type=instance_type,
                                     initial_instance_count=instance_count)
        session.endpoint_from_production_variants(
            name=name, production_variants=[variant], wait=False,
            tags=[{"Key": "autolabel:job", "Value": job}, {"Key": "autolabel:stack", "Value": stack.name}])
        print(f"creating endpoint {name}: model {model['modelName']} (iteration {model['iteration']} of job {job}), "
              f"{instance_count} x {instance_type}", file=out, flush=True)
        described = _endpoint(sagemaker, name)
        while wait and described is not None and described["EndpointStatus"] in ("Creating", "Updating"):
            time.sleep(poll_seconds)
            described = _endpoint(sagemaker, name)
    if described is None:  # deleted by someone else while it was being created
        raise DeployedError(f"endpoint {name} is gone: it was deleted while being created")
    status = described["EndpointStatus"]
    if wait and status != "InService":
        raise DeployedError(f"endpoint {name} is {status}: {described.get('FailureReason', 'no reason given')}")
    print(f"endpoint {name}: {status} ({described['EndpointArn']})", file=out)
    return described


def _pinned_instance(model: dict[str, Any]) -> str:
    """The task type's inference instance (task_types.py), for a report that does not name one."""
    try:
        return task_type(model["taskType"]).inference_instance
    except (KeyError, ValueError):
        raise DeployedError(f"report.json names no inference instance type for model {model.get('modelName')}; "
                            "give --instance-type") from None


def _endpoint(sagemaker, name: str) -> dict[str, Any] | None:
    try:
        return sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationException":  # "Could not find endpoint"
            return None
        raise
