"""The synthesized stack: the loop's states, the pinned instances, the trigger, security defaults."""

from __future__ import annotations

from autolabel.localcloud.asl import iter_states
from infra.constructs.functions import LAMBDA_PLATFORMS, PLOTTING_LAYER_DIR, PYTHON_RUNTIME, pip_for_lambda
from infra.constructs.models import available_task_types
from labeling.task_types import TASK_TYPES

LOOP_STATES = {
    "ValidateJob", "SelectSample", "HumanLabeling", "ConsolidateAnnotations", "TrainModel?", "TaskType",
    "ComputeThreshold", "ApplyThreshold", "SelectAmbiguous", "MoreToLabel?", "WriteOutput", "RecordFailure",
    "JobFailed", "JobComplete",
}


def _resources(template, resource_type):
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def test_every_state_of_the_loop_is_in_the_state_machine(asl):
    names = {name for name, _ in iter_states(asl)}
    assert LOOP_STATES <= names
    assert asl["StartAt"] == "ValidateJob"
    for task_type in available_task_types():
        assert {f"Train-{task_type}", f"CreateModel-{task_type}", f"TransformValidation-{task_type}",
                f"TransformPool-{task_type}"} <= names


def test_every_task_type_ships_its_container():
    # Folders under containers/ without a Dockerfile (common/, the shared code) are no task type.
    assert available_task_types() == ["image-classification", "object-detection", "text-classification"]


def test_sagemaker_steps_pin_exactly_the_instances_of_the_task_type_table(asl):
    states = dict(iter_states(asl))
    branches = {c["StringEquals"]: c["Next"] for c in states["TaskType"]["Choices"]}
    assert set(branches) == set(available_task_types())
    for task_type in branches:
        table = TASK_TYPES[task_type]
        assert branches[task_type] == f"Train-{task_type}"
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


def test_human_labeling_waits_for_the_task_token(asl):
    human = dict(iter_states(asl))["HumanLabeling"]
    assert human["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert human["Parameters"]["Payload"]["taskToken.$"] == "$$.Task.Token"
    assert human["TimeoutSeconds"] > 0


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
    assert more["Default"] == "WriteOutput"


def test_manifest_upload_triggers_the_start_job_function(template):
    (rule,) = _resources(template, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"]["key"] == [{"suffix": "/input.manifest"}]
    buckets = _resources(template, "AWS::S3::Bucket")
    jobs_bucket = next(lid for lid in buckets if lid.startswith("StorageJobs"))
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": jobs_bucket}]
    (target,) = rule["Properties"]["Targets"]
    start_job = target["Arn"]["Fn::GetAtt"][0]
    function = template["Resources"][start_job]["Properties"]
    assert function["Handler"] == "labeling.handlers.start_job.handler"
    machine = next(iter(_resources(template, "AWS::StepFunctions::StateMachine")))
    assert function["Environment"]["Variables"]["STATE_MACHINE_ARN"] == {"Ref": machine}


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
    assert len(ours) == 12
    for lid, function in ours.items():
        props = function["Properties"]
        layer = props["Layers"][0]
        layer_arn = layer if isinstance(layer, str) else str(layer)
        assert "AWSLambdaPowertoolsPythonV3" in layer_arn, lid
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
        assert any(re.fullmatch(pattern, suppressed["ruleName"]) for pattern, _ in JUSTIFIED), suppressed["ruleName"]


# --- the plotting layer (matplotlib for the report's plot) ------------------------------------

WRITE_OUTPUT = "labeling.handlers.write_output.handler"


def _plotting_layer(template) -> tuple[str, dict]:
    (layer,) = _resources(template, "AWS::Lambda::LayerVersion").items()
    return layer


def test_only_write_output_carries_the_plotting_layer(template):
    layer_id, layer = _plotting_layer(template)
    assert layer["Properties"]["CompatibleRuntimes"] == [PYTHON_RUNTIME.name]
    assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]
    ours = {f["Properties"]["Handler"]: f["Properties"] for f in _resources(template, "AWS::Lambda::Function").values()
            if f["Properties"].get("Handler", "").startswith("labeling.")}
    with_layer = {handler for handler, props in ours.items() if {"Ref": layer_id} in props["Layers"]}
    assert with_layer == {WRITE_OUTPUT}
    assert ours[WRITE_OUTPUT]["Environment"]["Variables"]["MPLCONFIGDIR"].startswith("/tmp/")


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
