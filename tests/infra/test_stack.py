"""The synthesized stack: the loop's states, the pinned instances, the trigger, security defaults."""

from __future__ import annotations

from autolabel.localcloud.asl import iter_states
from infra.constructs.functions import LAMBDA_PLATFORMS, PLOTTING_LAYER_DIR, PYTHON_RUNTIME, pip_for_lambda
from infra.constructs.models import available_task_types
from labeling.logic.resume import RESUME_STATES
from labeling.task_types import TASK_TYPES
from tests.infra.template_values import text as _text

LOOP_STATES = {
    "ValidateJob", "SelectSample", "HumanLabeling", "ConsolidateAnnotations", "TrainModel?", "TaskType",
    "ComputeThreshold", "ApplyThreshold", "SelectAmbiguous", "MoreToLabel?", "WriteOutput", "RecordFailure",
    "JobFailed", "JobComplete", "StartOrResume?", "ResumeJob", "ResumeAt",
    "Audit?", "SelectAudit", "AuditLabeling", "ConsolidateAudit",
}


def _resources(template, resource_type):
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def test_every_state_of_the_loop_is_in_the_state_machine(asl):
    names = {name for name, _ in iter_states(asl)}
    assert LOOP_STATES <= names
    assert asl["StartAt"] == "StartOrResume?"
    start = asl["States"]["StartOrResume?"]
    assert start["Default"] == "ValidateJob"  # an upload starts the loop; {"resume": ...} resumes it
    assert [rule["Next"] for rule in start["Choices"]] == ["ResumeJob"]
    for task_type in available_task_types():
        assert {f"Train-{task_type}", f"CreateModel-{task_type}", f"TransformValidation-{task_type}",
                f"TransformPool-{task_type}"} <= names


def test_a_resume_can_go_on_at_every_state_a_checkpoint_names(asl):
    choices = asl["States"]["ResumeAt"]["Choices"]
    assert {rule["StringEquals"]: rule["Next"] for rule in choices} == {name: name for name in RESUME_STATES}
    assert asl["States"]["ResumeAt"]["OutputPath"] == "$.state"


def test_lambda_steps_are_retried_when_the_function_crashes_not_when_it_raises(asl):
    states = dict(iter_states(asl))
    for name in ("ValidateJob", "SelectSample", "HumanLabeling", "ConsolidateAnnotations", "ApplyThreshold",
                 "SelectAmbiguous", "WriteOutput", "ResumeJob", "SelectAudit", "AuditLabeling", "ConsolidateAudit"):
        crash_retries = [r for r in states[name]["Retry"] if "Lambda.Unknown" in r["ErrorEquals"]]
        assert crash_retries and crash_retries[0]["ErrorEquals"] == ["Lambda.Unknown", "Sandbox.Timedout"], name
        assert all("States.ALL" not in r["ErrorEquals"] and "States.TaskFailed" not in r["ErrorEquals"]
                   for r in states[name]["Retry"]), name


def test_every_task_type_ships_its_container():
    # Folders under containers/ without a Dockerfile (common/, the shared code) are no task type.
    assert available_task_types() == ["image-classification", "object-detection", "text-classification"]


def test_sagemaker_steps_pin_exactly_the_instances_of_the_task_type_table(asl):
    states = dict(iter_states(asl))
    branches = {c["StringEquals"]: c["Next"] for c in states["TaskType"]["Choices"]}
    assert set(branches) == set(available_task_types())
    for task_type in branches:
        table = TASK_TYPES[task_type]
        # job.json's InitialActiveLearningModelArn: the first model iteration transforms without training.
        initial = states[branches[task_type]]
        assert branches[task_type] == f"InitialModel?-{task_type}" and initial["Type"] == "Choice"
        assert initial["Default"] == f"Train-{task_type}"
        assert [c["Next"] for c in initial["Choices"]] == [f"TransformValidation-{task_type}"]
        assert states[f"CreateModel-{task_type}"]["Next"] == f"TransformValidation-{task_type}"
        assert states[f"CreateModel-{task_type}"]["ResultPath"] == "$.sagemaker.createdModel"
        train = states[f"Train-{task_type}"]
        assert train["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
        assert train["Parameters"]["ResourceConfig"]["InstanceType"] == table.training_instance
        for part in ("Validation", "Pool"):
            transform = states[f"Transform{part}-{task_type}"]
            assert transform["Resource"] == "arn:aws:states:::sagemaker:createTransformJob.sync"
            assert transform["Parameters"]["TransformResources"]["InstanceType"] == table.inference_instance
    pinned = {
        (s["Parameters"]["ResourceConfig"]["InstanceType"] if "ResourceConfig" in s.get("Parameters", {})
         else s["Parameters"]["TransformResources"]["InstanceType"])
        for name, s in states.items() if name.startswith(("Train-", "Transform"))
    }
    allowed = {t.training_instance for t in TASK_TYPES.values()} | {t.inference_instance for t in TASK_TYPES.values()}
    assert pinned <= allowed


def test_sagemaker_api_errors_are_retried_with_backoff_and_failed_jobs_only_for_capacity(asl):
    """labeling/logic/sagemaker_failure.py: throttling and internal errors of the API by a Retry; a job that
    ended Failed only for a CapacityError or InternalServerError, under a new name; never a container's error."""
    from labeling.logic import sagemaker_failure

    states = dict(iter_states(asl))
    jobs = [name for name in states if name.startswith(("Train-", "TransformValidation-", "TransformPool-"))]
    assert len(jobs) == 3 * len(available_task_types())
    for name in [*jobs, *(n for n in states if n.startswith("CreateModel-"))]:
        (retry,) = states[name]["Retry"]
        assert retry == {"ErrorEquals": ["SageMaker.AmazonSageMakerException", "SageMaker.SageMakerException"],
                         "IntervalSeconds": 5, "MaxAttempts": 6, "BackoffRate": 2, "MaxDelaySeconds": 300,
                         "JitterStrategy": "FULL"}, name
        assert not any("States.TaskFailed" in r["ErrorEquals"] or "States.ALL" in r["ErrorEquals"]
                       for r in states[name]["Retry"])
    for name in jobs:
        first, last = states[name]["Catch"]
        assert first == {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error",
                         "Next": f"CapacityOrInternal?-{name}"}
        assert last["Next"] == "RecordFailure" and last["ErrorEquals"] == ["States.ALL"]
        decide = states[f"CapacityOrInternal?-{name}"]
        assert decide["Default"] == "RecordFailure"
        (choice,) = decide["Choices"]
        limit, reasons = choice["And"]
        assert limit["NumericLessThan"] == sagemaker_failure.JOB_RETRY_MAX_ATTEMPTS
        assert {c["StringMatches"] for c in reasons["Or"]} == set(sagemaker_failure.RETRIED_FAILURE_PATTERNS)
        assert not any("AlgorithmError" in c["StringMatches"] for c in reasons["Or"])
        assert states[choice["Next"]]["Type"] == "Wait"
        rename = states[states[choice["Next"]]["Next"]]
        assert rename["Type"] == "Pass" and rename["Next"] == name
        name_key = "TrainingJobName.$" if name.startswith("Train-") else "TransformJobName.$"
        assert states[name]["Parameters"][name_key].startswith("States.Format('{}{}', $.sagemaker.")


def test_transforms_run_on_as_many_instances_as_their_input_has_shards(asl):
    states = dict(iter_states(asl))
    for task_type in available_task_types():
        for part, step in (("Validation", "validation"), ("Pool", "pool")):
            resources = states[f"Transform{part}-{task_type}"]["Parameters"]["TransformResources"]
            assert resources["InstanceCount.$"] == f"$.sagemaker.{step}InstanceCount"
            assert "InstanceCount" not in resources
            data = states[f"Transform{part}-{task_type}"]["Parameters"]["TransformInput"]["DataSource"]
            assert data["S3DataSource"] == {"S3Uri.$": f"$.sagemaker.{step}DataUri", "S3DataType": "S3Prefix"}


def test_human_labeling_waits_for_the_task_token(asl):
    states = dict(iter_states(asl))
    for name in ("HumanLabeling", "AuditLabeling"):  # the audit's sample is one more human batch
        human = states[name]
        assert human["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
        assert human["Parameters"]["Payload"]["taskToken.$"] == "$$.Task.Token"
        assert human["TimeoutSecondsPath"] == "$.job.settings.TaskAvailabilityLifetimeInSeconds"
    function = states["HumanLabeling"]["Parameters"]["FunctionName"]
    assert states["AuditLabeling"]["Parameters"]["FunctionName"] == function


def test_a_human_batch_times_out_after_the_jobs_task_availability_lifetime_into_record_failure(asl):
    human = dict(iter_states(asl))["HumanLabeling"]
    # Ground Truth's setting, from job.json through ValidateJob's $.job.settings; no fixed timeout beside it.
    assert human["TimeoutSecondsPath"] == "$.job.settings.TaskAvailabilityLifetimeInSeconds"
    assert "TimeoutSeconds" not in human
    # States.Timeout is one of States.ALL: the catcher sends it, with the error in $.error, to RecordFailure.
    (catch,) = [c for c in human["Catch"] if {"States.Timeout", "States.ALL"} & set(c["ErrorEquals"])]
    assert catch["Next"] == "RecordFailure" and catch["ResultPath"] == "$.error"


def test_every_task_fails_into_record_failure(asl):
    for name, state in iter_states(asl):
        if state["Type"] == "Task" and name != "RecordFailure":
            catches = state.get("Catch", [])
            assert any(c["Next"] == "RecordFailure" and "States.ALL" in c["ErrorEquals"] for c in catches), name
    assert dict(iter_states(asl))["RecordFailure"]["Next"] == "JobFailed"


def test_loop_goes_back_to_human_labeling_until_nothing_is_left(asl):
    more = dict(iter_states(asl))["MoreToLabel?"]
    assert more["Choices"][0]["Variable"] == "$.counts.inHumanBatch"
    assert more["Choices"][0]["Next"] == "HumanLabeling"
    # Nothing left: WriteOutput, through the audit when job.json asks for one (logic/audit.py).
    assert more["Default"] == "Audit?"
    audit = dict(iter_states(asl))["Audit?"]
    assert audit["Default"] == "WriteOutput" and [rule["Next"] for rule in audit["Choices"]] == ["SelectAudit"]
    assert dict(iter_states(asl))["ConsolidateAudit"]["Next"] == "WriteOutput"


def _upload_rule(template) -> dict:
    (rule,) = [rule for rule in _resources(template, "AWS::Events::Rule").values()
               if rule["Properties"]["EventPattern"]["source"] == ["aws.s3"]]
    return rule


def test_manifest_upload_triggers_the_start_job_function(template):
    rule = _upload_rule(template)
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"]["key"] == [{"suffix": "/input.manifest"}]
    buckets = _resources(template, "AWS::S3::Bucket")
    jobs_bucket = next(lid for lid in buckets if lid.startswith("StorageJobs"))
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": jobs_bucket}]
    # The rule puts the event on a queue (infra/constructs/trigger.py), which StartJob reads.
    (target,) = rule["Properties"]["Targets"]
    uploads = target["Arn"]["Fn::GetAtt"][0]
    assert template["Resources"][uploads]["Type"] == "AWS::SQS::Queue"
    (mapping,) = [m["Properties"] for m in _resources(template, "AWS::Lambda::EventSourceMapping").values()
                  if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [uploads, "Arn"]}]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    start_job = mapping["FunctionName"]["Ref"]
    function = template["Resources"][start_job]["Properties"]
    assert function["Handler"] == "labeling.handlers.start_job.handler"
    machine = next(iter(_resources(template, "AWS::StepFunctions::StateMachine")))
    assert function["Environment"]["Variables"]["STATE_MACHINE_ARN"] == {"Ref": machine}



def test_an_upload_that_starts_no_job_waits_in_the_dead_letter_queue(template):
    """Issue 11: StartJob failing (or EventBridge failing to deliver) must not lose the event."""
    rule = _upload_rule(template)
    (target,) = rule["Properties"]["Targets"]
    queues = _resources(template, "AWS::SQS::Queue")
    uploads = queues[target["Arn"]["Fn::GetAtt"][0]]["Properties"]
    dead_letters = uploads["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [dead_letters, "Arn"]}
    assert uploads["RedrivePolicy"]["maxReceiveCount"] >= 5  # AWS's advice for a Lambda event source
    start_job = next(f["Properties"] for f in _resources(template, "AWS::Lambda::Function").values()
                     if f["Properties"].get("Handler") == "labeling.handlers.start_job.handler")
    assert uploads["VisibilityTimeout"] >= 6 * start_job["Timeout"]
    assert queues[dead_letters]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    for props in (uploads, queues[dead_letters]["Properties"]):
        assert props["SqsManagedSseEnabled"] is True
    assert template["Outputs"]["UploadDeadLetterQueue"]["Value"] == {"Ref": dead_letters}


def test_buckets_are_encrypted_private_and_tls_only(template):
    buckets = _resources(template, "AWS::S3::Bucket")
    for lid, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], lid
        assert all(props["PublicAccessBlockConfiguration"].values()), lid
    policies = _resources(template, "AWS::S3::BucketPolicy").values()
    denies_plain_http = [
        s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(denies_plain_http) == len(buckets)


def test_functions_use_powertools_layer_and_tracing(template):
    ours = {lid: f for lid, f in _resources(template, "AWS::Lambda::Function").items()
            if f["Properties"].get("Handler", "").startswith("labeling.")}
    assert len(ours) == 16  # 12 workflow functions, StartJob, RecordStop, TaskApi and HumanBatchAge
    for lid, function in ours.items():
        props = function["Properties"]
        # The stack's own Powertools layer (tests/infra/test_powertools_layer.py checks what it holds).
        assert props["Layers"][0]["Ref"].startswith("FunctionsPowertoolsLayer"), lid
        assert props["TracingConfig"]["Mode"] == "Active", lid
        assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "autolabel"


def test_a_container_image_asset_per_shipped_task_type(synthesized_app):
    from infra.paths import CONTAINERS_DIR

    # One image per task type, plus a training image where a Dockerfile.train asks for one (GPU builds).
    expected = sum(1 + (CONTAINERS_DIR / name / "Dockerfile.train").is_file() for name in available_task_types())
    folders = {folder.resolve() for folder in synthesized_app.images.values()}
    assert len(folders) == expected
    for folder in folders:
        assert (folder / "Dockerfile").is_file() and (folder / "train").is_file() and (folder / "serve").is_file()
        # The build context is containers/, cut down to the shared package and this task type's folder.
        assert {p.name for p in folder.parent.iterdir() if p.is_dir()} == {"common", folder.name}
        assert (folder.parent / "common" / "ml_container" / "server.py").is_file()


def test_image_task_types_train_on_their_cuda_image_and_infer_on_their_cpu_image(asl):
    from infra.paths import CONTAINERS_DIR

    states = dict(iter_states(asl))
    gpu_trained = {name for name in available_task_types() if (CONTAINERS_DIR / name / "Dockerfile.train").is_file()}
    assert {"image-classification", "object-detection"} <= gpu_trained
    for name in gpu_trained:
        training_image = states[f"Train-{name}"]["Parameters"]["AlgorithmSpecification"]["TrainingImage"]
        model_image = states[f"CreateModel-{name}"]["Parameters"]["PrimaryContainer"]["Image"]
        assert training_image != model_image, name


def test_cdk_nag_aws_solutions_checks_pass_with_every_acknowledgment_justified(synthesized_app):
    import json
    import re

    from infra.nag import JUSTIFIED

    report = json.loads((synthesized_app.outdir / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success" and nag["violations"] == []
    for suppressed in nag.get("suppressedViolations", []):
        assert any(re.fullmatch(pattern, suppressed["ruleName"]) for pattern, *_ in JUSTIFIED), suppressed["ruleName"]
    for pattern, reason, *where in JUSTIFIED:
        assert len(reason) > 30 and len(where) <= 1, pattern


# --- the plotting layer (matplotlib for the report's plot) ------------------------------------

WRITE_OUTPUT = "labeling.handlers.write_output.handler"


def _plotting_layer(template) -> tuple[str, dict]:
    # The other layer is the AWS CLI that CDK's BucketDeployment (the labeling page) brings.
    (layer,) = [(lid, layer) for lid, layer in _resources(template, "AWS::Lambda::LayerVersion").items()
                if lid.startswith("FunctionsPlottingLayer")]
    return layer


def test_a_stopped_execution_writes_its_outputs_through_record_stop(template):
    # The other status-change rule tells the Notifications topic (tests/infra/test_monitoring.py).
    (rule,) = [rule for rule in _resources(template, "AWS::Events::Rule").values()
               if rule["Properties"]["EventPattern"]["source"] == ["aws.states"]
               and any("Fn::GetAtt" in target["Arn"] for target in rule["Properties"]["Targets"])]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["status"] == ["ABORTED", "TIMED_OUT"]
    (machine,) = _resources(template, "AWS::StepFunctions::StateMachine")
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": machine}]
    (target,) = rule["Properties"]["Targets"]
    function = template["Resources"][target["Arn"]["Fn::GetAtt"][0]]["Properties"]
    assert function["Handler"] == "labeling.handlers.record_stop.handler"


def test_only_the_functions_that_write_reports_carry_the_plotting_layer(template):
    layer_id, layer = _plotting_layer(template)
    assert layer["Properties"]["CompatibleRuntimes"] == [PYTHON_RUNTIME.name]
    assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]
    ours = {f["Properties"]["Handler"]: f["Properties"] for f in _resources(template, "AWS::Lambda::Function").values()
            if f["Properties"].get("Handler", "").startswith("labeling.")}
    with_layer = {handler for handler, props in ours.items() if {"Ref": layer_id} in props["Layers"]}
    # WriteOutput's report; RecordFailure's and RecordStop's for a job that ended early (job_outputs.py).
    assert with_layer == {WRITE_OUTPUT, "labeling.handlers.record_failure.handler",
                          "labeling.handlers.record_stop.handler"}
    for handler in with_layer:
        assert ours[handler]["Environment"]["Variables"]["MPLCONFIGDIR"].startswith("/tmp/")


def test_tests_synthesize_the_plotting_layer_unbundled(synthesized_app, template):
    """The local cloud skips bundling: the asset is the requirements folder, and no pip ran."""
    import json

    _, layer = _plotting_layer(template)
    asset_hash = layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")
    (manifest,) = synthesized_app.outdir.glob("*.assets.json")
    source = json.loads(manifest.read_text())["files"][asset_hash]["source"]
    assert source["path"] == str(PLOTTING_LAYER_DIR) and source["packaging"] == "zip"
    assert not any((synthesized_app.outdir / f"asset.{asset_hash}").glob("python/matplotlib"))


def test_the_layer_pins_the_matplotlib_the_local_cloud_plots_with():
    import tomllib
    from importlib.metadata import version

    requirements = (PLOTTING_LAYER_DIR / "requirements.txt").read_text().splitlines()
    (pin,) = [line for line in requirements if line.startswith("matplotlib==")]
    dependencies = tomllib.loads((PLOTTING_LAYER_DIR.parents[2] / "pyproject.toml").read_text())["project"]
    assert pin in dependencies["dependencies"]
    assert pin == f"matplotlib=={version('matplotlib')}"


def test_the_layer_is_built_from_wheels_for_the_lambda_runtime():
    command = pip_for_lambda(PLOTTING_LAYER_DIR / "requirements.txt", "/out/python")
    assert command[command.index("--python-version") + 1] == PYTHON_RUNTIME.name.removeprefix("python")
    assert "--only-binary=:all:" in command and command[command.index("--target") + 1] == "/out/python"
    # Amazon Linux 2023's glibc 2.34 and every older manylinux.
    assert LAMBDA_PLATFORMS[0] == "manylinux_2_34_x86_64" and "manylinux2014_x86_64" in LAMBDA_PLATFORMS
    assert {f"--platform={platform}" for platform in LAMBDA_PLATFORMS} <= set(command)


def test_image_transforms_send_smaller_requests_than_text_transforms(asl):
    states = dict(iter_states(asl))
    # An image line is a reference to fetch and run, far more work per byte than a text line.
    assert states["TransformPool-image-classification"]["Parameters"]["MaxPayloadInMB"] == 1
    assert states["TransformPool-object-detection"]["Parameters"]["MaxPayloadInMB"] == 1
    assert states["TransformPool-text-classification"]["Parameters"]["MaxPayloadInMB"] == 6


def test_every_transform_request_may_run_for_the_services_maximum_hour(asl):
    """SageMaker's default would cut a request of thousands of images at 10 minutes and fail the job."""
    transforms = [state for name, state in iter_states(asl) if name.startswith("Transform")]
    assert transforms
    for state in transforms:
        assert state["Parameters"]["ModelClientConfig"] == {"InvocationsTimeoutInSeconds": 3600}


# --- the workers' side: task API, user pool, labeling page (docs/task-api.md) -----------------

TASK_API = "labeling.handlers.task_api.handler"
# The routes of docs/task-api.md, the contract the page and the backend are built to.
TASK_API_ROUTES = {
    "GET /api/jobs", "POST /api/jobs/{job}/claim", "POST /api/jobs/{job}/tasks/{taskId}/answer",
    "POST /api/jobs/{job}/tasks/{taskId}/release", "GET /api/jobs/{job}/progress",
}
WORKER_OUTPUTS = {"TaskApiFunction", "TaskApiUrl", "UserPoolId", "UserPoolClientId", "UserPoolDomain",
                  "LabelingPageUrl"}


def _one(template, resource_type, prefix=""):
    (item,) = [(lid, r) for lid, r in _resources(template, resource_type).items() if lid.startswith(prefix)]
    return item




def _task_api_function(template) -> str:
    (lid,) = [lid for lid, f in _resources(template, "AWS::Lambda::Function").items()
              if f["Properties"].get("Handler") == TASK_API]
    return lid


def test_the_task_api_is_one_function_that_the_local_gateway_finds_by_its_output(template):
    function = _task_api_function(template)
    assert template["Resources"][function]["Properties"]["Timeout"] == 30
    outputs = template["Outputs"]
    assert WORKER_OUTPUTS <= set(outputs)
    assert outputs["TaskApiFunction"]["Value"] == {"Ref": function}
    assert not {"ListTasksFunction", "SubmitAnswerFunction"} & set(outputs)
    handlers = {f["Properties"].get("Handler") for f in _resources(template, "AWS::Lambda::Function").values()}
    assert not any(str(h).startswith("labeling.handlers.human_task_api") for h in handlers)


def test_every_route_of_the_task_api_needs_the_workers_cognito_jwt(template):
    routes = _resources(template, "AWS::ApiGatewayV2::Route")
    assert {r["Properties"]["RouteKey"] for r in routes.values()} == TASK_API_ROUTES
    authorizer_id, authorizer = _one(template, "AWS::ApiGatewayV2::Authorizer")
    pool, _ = _one(template, "AWS::Cognito::UserPool")
    client, _ = _one(template, "AWS::Cognito::UserPoolClient")
    props = authorizer["Properties"]
    assert props["AuthorizerType"] == "JWT" and props["IdentitySource"] == ["$request.header.Authorization"]
    issuer = _text(props["JwtConfiguration"]["Issuer"])
    assert issuer.startswith("https://cognito-idp.") and issuer.endswith(f".amazonaws.com/<{pool}>")
    assert props["JwtConfiguration"]["Audience"] == [{"Ref": client}]
    function = _task_api_function(template)
    for lid, route in routes.items():
        route = route["Properties"]
        assert route["AuthorizationType"] == "JWT", lid
        assert route["AuthorizerId"] == {"Ref": authorizer_id}, lid
        integration = template["Resources"][_text(route["Target"]).removeprefix("integrations/<").rstrip(">")]
        assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
        assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
        assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": [function, "Arn"]}


def test_the_task_api_stage_logs_every_request_and_throttles(template):
    import json

    _, stage = _one(template, "AWS::ApiGatewayV2::Stage")
    props = stage["Properties"]
    assert props["StageName"] == "$default" and props["AutoDeploy"] is True
    log_group = props["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert template["Resources"][log_group]["Type"] == "AWS::Logs::LogGroup"
    assert template["Resources"][log_group]["Properties"]["RetentionInDays"] > 0
    fields = json.loads(props["AccessLogSettings"]["Format"])
    assert fields["requestId"] == "$context.requestId" and fields["worker"] == "$context.authorizer.claims.sub"
    throttle = props["DefaultRouteSettings"]
    assert throttle["ThrottlingRateLimit"] > 0 and throttle["ThrottlingBurstLimit"] > 0


def test_workers_are_invited_by_an_admin_and_never_sign_themselves_up(template):
    _, pool = _one(template, "AWS::Cognito::UserPool")
    props = pool["Properties"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props["UsernameAttributes"] == ["email"]  # the email is the username
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(policy[f"Require{kind}"] for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols"))
    assert props["MfaConfiguration"] in ("OPTIONAL", "ON") and props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["AccountRecoverySetting"]["RecoveryMechanisms"] == [{"Name": "verified_email", "Priority": 1}]
    assert props["UserPoolAddOns"]["AdvancedSecurityMode"] == "ENFORCED"
    invitation = props["AdminCreateUserConfig"]["InviteMessageTemplate"]
    distribution, _ = _one(template, "AWS::CloudFront::Distribution")
    body = _text(invitation["EmailMessage"])
    assert "{username}" in body and "{####}" in body and f"https://<{distribution}.DomainName>/" in body


def test_the_page_client_is_public_and_signs_in_with_a_code_to_the_page(template):
    pool, _ = _one(template, "AWS::Cognito::UserPool")
    _, client = _one(template, "AWS::Cognito::UserPoolClient")
    distribution, _ = _one(template, "AWS::CloudFront::Distribution")
    props = client["Properties"]
    assert props["UserPoolId"] == {"Ref": pool}
    assert props["GenerateSecret"] is False  # a browser keeps no secret: code grant with PKCE
    assert props["AllowedOAuthFlows"] == ["code"] and props["AllowedOAuthFlowsUserPoolClient"] is True
    assert set(props["AllowedOAuthScopes"]) == {"openid", "email"}
    page = f"https://<{distribution}.DomainName>/"
    assert [_text(url) for url in props["CallbackURLs"]] == [page]
    assert [_text(url) for url in props["LogoutURLs"]] == [page]
    assert props["SupportedIdentityProviders"] == ["COGNITO"]


def test_the_hosted_ui_domain_is_the_stacks_and_the_accounts(template):
    domain_id, domain = _one(template, "AWS::Cognito::UserPoolDomain")
    import re

    # The account is a token unless the app's environment names it (CDK_DEFAULT_ACCOUNT).
    assert re.fullmatch(r"autolabel-workers-(<AWS::AccountId>|\d{12})", _text(domain["Properties"]["Domain"]))
    assert domain["Properties"]["ManagedLoginVersion"] == 1  # the classic hosted UI: no branding to set up
    hosted_ui = _text(template["Outputs"]["UserPoolDomain"]["Value"])
    assert hosted_ui.startswith(f"https://<{domain_id}>.auth.") and hosted_ui.endswith(".amazoncognito.com")


def test_the_site_bucket_is_private_and_read_only_through_cloudfronts_origin_access_control(template):
    site, bucket = _one(template, "AWS::S3::Bucket", "LabelingPageSite")
    props = bucket["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values()) and len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "site-bucket/"
    (policy,) = [p["Properties"]["PolicyDocument"] for p in _resources(template, "AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": site}]
    distribution, dist = _one(template, "AWS::CloudFront::Distribution")
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allows
    for statement in allows:
        assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert statement["Action"] == "s3:GetObject"
        source = _text(statement["Condition"]["StringEquals"]["AWS:SourceArn"])
        assert source.endswith(f":distribution/<{distribution}>")
    (origin,) = [o for o in dist["Properties"]["DistributionConfig"]["Origins"]
                 if o["DomainName"] == {"Fn::GetAtt": [site, "RegionalDomainName"]}]
    oac = origin["OriginAccessControlId"]["Fn::GetAtt"][0]
    assert template["Resources"][oac]["Type"] == "AWS::CloudFront::OriginAccessControl"
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""  # no legacy OAI


def test_the_distribution_serves_the_page_over_https_and_sends_api_requests_to_the_http_api(template):
    from aws_cdk import aws_cloudfront as cloudfront

    _, dist = _one(template, "AWS::CloudFront::Distribution")
    config = dist["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    security_headers = cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS.response_headers_policy_id
    assert config["DefaultCacheBehavior"]["ResponseHeadersPolicyId"] == security_headers
    assert config["Logging"]["Prefix"] == "cloudfront/"
    (api,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/api/*"]
    assert len(config["CacheBehaviors"]) == 1
    assert api["ViewerProtocolPolicy"] == "https-only" and "POST" in api["AllowedMethods"]
    assert set(api["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert api["CachePolicyId"] == cloudfront.CachePolicy.CACHING_DISABLED.cache_policy_id
    # Every viewer header but Host: Authorization reaches the API (it may, as caching is off).
    assert api["OriginRequestPolicyId"] == \
        cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.origin_request_policy_id
    assert api["ResponseHeadersPolicyId"] == security_headers
    (origin,) = [o for o in config["Origins"] if o["Id"] == api["TargetOriginId"]]
    http_api, _ = _one(template, "AWS::ApiGatewayV2::Api")
    assert _text(origin["DomainName"]).startswith(f"<{http_api}>.execute-api.")
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    page_url = _text(template["Outputs"]["LabelingPageUrl"]["Value"])
    assert page_url == f"https://<{_one(template, 'AWS::CloudFront::Distribution')[0]}.DomainName>/"


def test_the_page_is_deployed_with_a_config_json_naming_the_hosted_ui_the_client_and_the_page(
        synthesized_app, template):
    import json
    import re

    from infra.paths import WEB_DIR

    (deployment,) = _resources(template, "Custom::CDKBucketDeployment").values()
    props = deployment["Properties"]
    site, _ = _one(template, "AWS::S3::Bucket", "LabelingPageSite")
    distribution, _ = _one(template, "AWS::CloudFront::Distribution")
    assert props["DestinationBucketName"] == {"Ref": site} and props["DistributionId"] == {"Ref": distribution}
    folders = [synthesized_app.outdir / f"asset.{key.removesuffix('.zip')}" for key in props["SourceObjectKeys"]]
    (config_at,) = [i for i, folder in enumerate(folders) if (folder / "config.json").is_file()]
    text = (folders[config_at] / "config.json").read_text()
    markers = props["SourceMarkers"][config_at]
    values = {}
    for marker, value in markers.items():  # each marker stands for a JSON string CloudFormation fills in
        values[marker] = _text(value)
        text = text.replace(marker, json.dumps(f"@{marker}"))
    config = json.loads(text)
    resolved = {key: values[value[1:]] if str(value).startswith("@") else value
                for key, value in config["auth"].items()}
    assert config["apiBase"] == "/api" and resolved["kind"] == "cognito"
    domain, _ = _one(template, "AWS::Cognito::UserPoolDomain")
    client, _ = _one(template, "AWS::Cognito::UserPoolClient")
    assert re.fullmatch(rf'"https://<{domain}>\.auth\.[\w-]+\.amazoncognito\.com"', resolved["domain"])
    assert resolved["clientId"] == f'"<{client}>"'
    assert resolved["redirectUri"] == f'"https://<{distribution}.DomainName>/"'
    # web/ itself, without a config.json of its own (the deployed one is the only one).
    (page,) = [folder for folder in folders if (folder / "index.html").is_file()]
    assert sorted(p.name for p in page.iterdir()) == sorted(
        p.name for p in WEB_DIR.iterdir() if p.name not in ("config.json", "__pycache__"))


def test_without_web_the_page_construct_stops_cdk_with_the_reason(monkeypatch, tmp_path):
    import aws_cdk as cdk
    from aws_cdk import assertions
    from aws_cdk import aws_s3 as s3

    from infra.constructs import labeling_page

    monkeypatch.setattr(labeling_page, "WEB_DIR", tmp_path / "web")
    stack = cdk.Stack(cdk.App(context={"aws:cdk:bundling-stacks": []}), "NoPage")
    page = labeling_page.LabelingPage(stack, "LabelingPage", api_domain="api.example.com",
                                      log_bucket=s3.Bucket(stack, "Logs"))
    page.deploy(labeling_page.page_config(hosted_ui_url="https://x", client_id="c", redirect_uri=page.url))
    errors = assertions.Annotations.from_stack(stack).find_error("*", assertions.Match.any_value())
    assert len(errors) == 1
    message = errors[0].entry.data
    assert str(tmp_path / "web" / "index.html") in message and "labeling page is missing" in message


def test_the_task_api_reads_job_objects_and_writes_only_workers_answers(template):
    function = _task_api_function(template)
    role = template["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [s for p in _resources(template, "AWS::IAM::Policy").values()
                  if {"Ref": role} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert statements and all(s["Effect"] == "Allow" for s in statements)
    s3_access: dict[str, set[str]] = {}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            if action.startswith("s3:"):
                assert "*" not in resources, statement  # no S3 action on every resource
                s3_access.setdefault(action, set()).update(_text(r) for r in resources)
    jobs = next(lid for lid in _resources(template, "AWS::S3::Bucket") if lid.startswith("StorageJobs"))
    assert s3_access == {
        "s3:ListBucket": {f"<{jobs}.Arn>"},
        "s3:GetObject": {f"<{jobs}.Arn>/jobs/*"},  # job files, and the images of presigned URLs under jobs/
        # Staged first, then the counted answer published where ConsolidateAnnotations reads it.
        "s3:PutObject": {f"<{jobs}.Arn>/jobs/*/output/annotations/worker-response/*",
                         f"<{jobs}.Arn>/jobs/*/submissions/*"},
    }
    machine = next(iter(_resources(template, "AWS::StepFunctions::StateMachine")))
    (resume,) = [s for s in statements if any(str(a).startswith("states:") for a in s["Action"])]
    assert set(resume["Action"]) == {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}
    assert resume["Resource"] == {"Ref": machine}
    table = next(iter(_resources(template, "AWS::DynamoDB::Table")))
    dynamodb = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
                if a.startswith("dynamodb:")}
    assert {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem"} <= dynamodb
    assert all(_text(r).startswith(f"<{table}.Arn>") or r == {"Ref": "AWS::NoValue"}
               for s in statements if any(str(a).startswith("dynamodb:") for a in s["Action"])
               for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]))


def test_the_hosted_ui_prefix_fits_cognitos_rules_whatever_the_stack_is_named():
    import aws_cdk as cdk

    from infra.constructs.workers import DOMAIN_PREFIX_MAX, domain_prefix

    app = cdk.App()
    for name, expected in (("Autolabel", "autolabel"), ("Labeling-" + "x" * 100, ("labeling-" + "x" * 100)[:42]),
                           ("MyAwsLabels", "autolabel"), ("cognito-test", "autolabel")):
        stack = cdk.Stack(app, name, env=cdk.Environment(account="123456789012", region="eu-west-1"))
        prefix = stack.resolve(domain_prefix(stack))
        assert prefix == f"{expected}-workers-123456789012", name
        assert len(prefix) <= DOMAIN_PREFIX_MAX


def test_the_tasks_table_is_declared_as_the_backend_reads_it_with_its_open_tasks_index(template):
    from labeling.task_table import create_table_arguments

    (table,) = _resources(template, "AWS::DynamoDB::Table").values()
    props, expected = table["Properties"], create_table_arguments("any")
    assert props["KeySchema"] == expected["KeySchema"] and props["BillingMode"] == expected["BillingMode"]
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    (index,) = props["GlobalSecondaryIndexes"]
    (wanted,) = expected["GlobalSecondaryIndexes"]
    assert index["IndexName"] == wanted["IndexName"] and index["KeySchema"] == wanted["KeySchema"]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert sorted(index["Projection"]["NonKeyAttributes"]) == sorted(wanted["Projection"]["NonKeyAttributes"])
