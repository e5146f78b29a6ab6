"""Least privilege, encryption and network isolation, read off the synthesized template.

What a deployment may reach: the job bucket's jobs/ keys (per function, infra/constructs/job_access.py),
the data buckets of the stack's settings (read only), the stack's KMS key; never S3 or KMS on `*`.
That every S3 call a job makes is allowed is tests/workflow/test_s3_access.py's part.
"""

from __future__ import annotations

import fnmatch

import pytest

from autolabel.localcloud.asl import iter_states, state_machine_definition
from autolabel.localcloud.cloud import BUNDLING_STACKS
from infra.config import StackSettingsError, parse_settings
from infra.constructs.models import NETWORK_ISOLATED, available_task_types
from labeling import settings
from tests.infra.template_values import text as _text

DATA_BUCKET = "customer-images-bucket"
KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VPC = {"subnetIds": ["subnet-0abc1234", "subnet-0def5678"], "securityGroupIds": ["sg-0abc1234"]}


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]




def _of_type(template, resource_type) -> dict[str, dict]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def _statements(template) -> list[tuple[str, dict]]:
    """(role logical id, statement) of every identity policy in the template."""
    found = []
    for lid, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Policy":
            for role in resource["Properties"].get("Roles", []):
                found += [(role["Ref"], s) for s in resource["Properties"]["PolicyDocument"]["Statement"]]
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                found += [(lid, s) for s in policy["PolicyDocument"]["Statement"]]
    return found


def _role_of(template, handler: str) -> str:
    (function,) = [f for f in _of_type(template, "AWS::Lambda::Function").values()
                   if f["Properties"].get("Handler") == handler]
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


def _access(template, role: str, service: str) -> dict[str, set[str]]:
    """action -> the resources (as text) the role's statements allow it on, for one service's actions."""
    access: dict[str, set[str]] = {}
    for owner, statement in _statements(template):
        if owner != role:
            continue
        assert statement["Effect"] == "Allow"
        for action in _listed(statement["Action"]):
            if action.startswith(f"{service}:"):
                access.setdefault(action, set()).update(_text(r) for r in _listed(statement["Resource"]))
    return access


def _jobs_bucket(template) -> str:
    return next(lid for lid in _of_type(template, "AWS::S3::Bucket") if lid.startswith("StorageJobs"))


def _key(template) -> str:
    """The stack's data key (the monitoring construct keeps one of its own for its notifications)."""
    (key,) = [lid for lid in _of_type(template, "AWS::KMS::Key") if lid.startswith("StorageKey")]
    return key


def _sagemaker_role(template) -> str:
    return next(lid for lid in _of_type(template, "AWS::IAM::Role") if lid.startswith("ModelsSageMakerExecutionRole"))


def _states(template) -> dict[str, dict]:
    return dict(iter_states(state_machine_definition(template)[1]))


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> dict:
    """The template of a stack given every setting: a data bucket, an existing key, a VPC for image jobs."""
    from infra.app import STACK_NAME, build_app

    app, _ = build_app(str(tmp_path_factory.mktemp("configured") / "cdk.out"), context={
        BUNDLING_STACKS: [], "dataBuckets": [DATA_BUCKET], "kmsKeyArn": KEY_ARN, "imageJobsVpc": VPC,
    })
    return app.synth().get_stack_by_name(STACK_NAME).template


@pytest.mark.parametrize("which", ["default", "configured"])
def test_no_statement_grants_s3_or_kms_actions_on_every_resource(template, configured, which):
    chosen = {"default": template, "configured": configured}[which]
    for role, statement in _statements(chosen):
        actions = _listed(statement["Action"])
        if any(a.split(":")[0] in ("s3", "kms") or a == "*" for a in actions):
            resources = [_text(r) for r in _listed(statement["Resource"])]
            assert not any(r == "*" or r.startswith("arn:aws:s3:::*") for r in resources), (role, statement)


def test_the_sagemaker_role_reads_jobs_objects_writes_only_model_and_transform_output(template):
    role, jobs, key = _sagemaker_role(template), _jobs_bucket(template), _key(template)
    assert _access(template, role, "s3") == {
        "s3:ListBucket": {f"<{jobs}.Arn>"},
        "s3:GetObject": {f"<{jobs}.Arn>/jobs/*"},
        "s3:PutObject": {f"<{jobs}.Arn>/jobs/*/output/training/models/*", f"<{jobs}.Arn>/jobs/*/output/inference/*"},
        "s3:AbortMultipartUpload": {f"<{jobs}.Arn>/jobs/*/output/training/models/*",
                                    f"<{jobs}.Arn>/jobs/*/output/inference/*"},
    }
    (listing,) = [s for owner, s in _statements(template) if owner == role and "s3:ListBucket" in _listed(s["Action"])]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["jobs/*"]}}
    kms = _access(template, role, "kms")
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(kms)
    assert all(resources == {f"<{key}.Arn>"} for resources in kms.values())


def test_the_state_machine_passes_only_the_sagemaker_role_and_only_to_sagemaker(template):
    machine = next(iter(_of_type(template, "AWS::StepFunctions::StateMachine").values()))
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    passing = [s for owner, s in _statements(template) if owner == role and "iam:PassRole" in _listed(s["Action"])]
    assert passing
    for statement in passing:
        assert [_text(r) for r in _listed(statement["Resource"])] == [f"<{_sagemaker_role(template)}.Arn>"]
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    sagemaker = _access(template, role, "sagemaker")
    assert all(r == "*" or ":sagemaker:" in r for rs in sagemaker.values() for r in rs)
    assert {a for a, rs in sagemaker.items() if "*" in rs} == {"sagemaker:ListTags"}  # it reads tags only


def test_each_function_reads_writes_and_deletes_only_what_it_touches(template):
    jobs = _jobs_bucket(template)

    def s3_of(module: str) -> dict[str, set[str]]:
        access = _access(template, _role_of(template, f"labeling.handlers.{module}.handler"), "s3")
        return {a: {r.removeprefix(f"<{jobs}.Arn>/") for r in rs} for a, rs in access.items()}

    validate = s3_of("validate_job")
    assert validate["s3:GetObject"] == {"jobs/*"}  # job files and the source-ref images under jobs/
    assert validate["s3:PutObject"] == {"jobs/*/output/manifests/input/invalid-lines.jsonl",
                                        "jobs/*/resume/checkpoint.json"}
    assert s3_of("record_failure")["s3:PutObject"] >= {"jobs/*/output/failure.json"}
    assert s3_of("start_job") == {"s3:ListBucket": {f"<{jobs}.Arn>"},
                                  "s3:PutObject": {"jobs/*/output/failure.json"},
                                  "s3:AbortMultipartUpload": {"jobs/*/output/failure.json"}}
    deleting = {module for module in ("validate_job", "select_sample", "publish_human_tasks", "consolidate_annotations",
                                      "compute_threshold", "apply_threshold", "select_ambiguous", "write_output",
                                      "record_failure", "resume_job", "start_job", "record_stop", "task_api")
                if "s3:DeleteObject" in s3_of(module)}
    assert deleting == {"resume_job"}  # it sets an earlier failure.json aside, and deletes nothing else
    assert s3_of("resume_job")["s3:DeleteObject"] == {"jobs/*/output/failure.json"}
    # Nobody but SageMaker writes models or predictions, nobody but the task API workers' answers.
    for module in ("validate_job", "select_sample", "consolidate_annotations", "apply_threshold", "write_output"):
        writes = s3_of(module)["s3:PutObject"]
        assert not any(fnmatch.fnmatch(k, "jobs/*/output/inference/*/pool/*") or "worker-response" in k
                       for k in writes), module
    for module in ("validate_job", "write_output", "record_failure", "task_api"):
        assert all(r.startswith("jobs/") or r == f"<{jobs}.Arn>" for rs in s3_of(module).values() for r in rs)


def test_every_function_uses_only_the_stacks_key_and_only_to_decrypt_and_generate_data_keys(template):
    key = _key(template)
    for lid, function in _of_type(template, "AWS::Lambda::Function").items():
        handler = function["Properties"].get("Handler", "")
        if not handler.startswith("labeling."):
            continue
        kms = _access(template, function["Properties"]["Role"]["Fn::GetAtt"][0], "kms")
        if "s3:GetObject" in _access(template, function["Properties"]["Role"]["Fn::GetAtt"][0], "s3") \
                or "s3:PutObject" in _access(template, function["Properties"]["Role"]["Fn::GetAtt"][0], "s3"):
            assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(kms), lid
        assert all(resources == {f"<{key}.Arn>"} for resources in kms.values()), lid


def test_the_key_is_rotated_and_encrypts_the_bucket_the_table_and_the_sagemaker_jobs(template):
    key_id = _key(template)
    key = template["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"
    bucket = template["Resources"][_jobs_bucket(template)]["Properties"]["BucketEncryption"]
    (rule,) = bucket["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms",
                                                    "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]}}
    assert rule["BucketKeyEnabled"] is True
    (table,) = _of_type(template, "AWS::DynamoDB::Table").values()
    assert table["Properties"]["SSESpecification"] == {
        "KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}, "SSEEnabled": True, "SSEType": "KMS"}
    _assert_sagemaker_jobs_encrypted_with(_states(template), f"arn:aws:local:us-east-1:123456789012:{key_id}/Arn")


def _assert_sagemaker_jobs_encrypted_with(states: dict[str, dict], key_arn: str) -> None:
    for task_type in available_task_types():
        train = states[f"Train-{task_type}"]["Parameters"]
        assert train["OutputDataConfig"]["KmsKeyId"] == key_arn
        assert train["ResourceConfig"]["VolumeKmsKeyId"] == key_arn
        for part in ("Validation", "Pool"):
            transform = states[f"Transform{part}-{task_type}"]["Parameters"]
            assert transform["TransformOutput"]["KmsKeyId"] == key_arn
            assert transform["TransformResources"]["VolumeKmsKeyId"] == key_arn


def test_text_jobs_are_network_isolated_and_image_jobs_run_outside_a_vpc_by_default(template):
    states = _states(template)
    assert NETWORK_ISOLATED == {"text-classification"}
    for task_type in available_task_types():
        isolated = task_type in NETWORK_ISOLATED
        for state in (f"Train-{task_type}", f"CreateModel-{task_type}"):
            assert states[state]["Parameters"]["EnableNetworkIsolation"] is isolated, state
            assert "VpcConfig" not in states[state]["Parameters"], state


def test_data_buckets_are_read_only_and_only_for_the_three_readers_of_images(configured):
    readers = {_role_of(configured, "labeling.handlers.validate_job.handler"),
               _role_of(configured, "labeling.handlers.task_api.handler"), _sagemaker_role(configured)}
    granted = {}
    for role, statement in _statements(configured):
        for resource in _listed(statement["Resource"]):
            text = _text(resource)
            if DATA_BUCKET in text:
                granted.setdefault(role, set()).update((a, text) for a in _listed(statement["Action"]))
    assert set(granted) == readers
    for pairs in granted.values():
        assert pairs == {("s3:ListBucket", f"arn:aws:s3:::{DATA_BUCKET}"),
                         ("s3:GetObject", f"arn:aws:s3:::{DATA_BUCKET}/*")}
    (validate,) = [f for f in _of_type(configured, "AWS::Lambda::Function").values()
                   if f["Properties"].get("Handler") == "labeling.handlers.validate_job.handler"]
    assert validate["Properties"]["Environment"]["Variables"][settings.DATA_BUCKETS_ENV] == DATA_BUCKET


def test_an_existing_key_replaces_the_stacks_own_everywhere(configured):
    assert not [lid for lid in _of_type(configured, "AWS::KMS::Key") if lid.startswith("Storage")]
    bucket = configured["Resources"][_jobs_bucket(configured)]["Properties"]["BucketEncryption"]
    assert bucket["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == KEY_ARN
    (table,) = _of_type(configured, "AWS::DynamoDB::Table").values()
    assert table["Properties"]["SSESpecification"]["KMSMasterKeyId"] == KEY_ARN
    _assert_sagemaker_jobs_encrypted_with(_states(configured), KEY_ARN)
    for function in _of_type(configured, "AWS::Lambda::Function").values():
        if function["Properties"].get("Handler", "").startswith("labeling."):
            kms = _access(configured, function["Properties"]["Role"]["Fn::GetAtt"][0], "kms")
            assert all(resources == {KEY_ARN} for resources in kms.values()), function["Properties"]["Handler"]
    assert all(resources == {KEY_ARN} for resources in _access(configured, _sagemaker_role(configured), "kms").values())


def test_image_jobs_run_in_the_configured_vpc_and_text_jobs_stay_isolated(configured):
    states = _states(configured)
    expected = {"SecurityGroupIds": VPC["securityGroupIds"], "Subnets": VPC["subnetIds"]}
    for task_type in available_task_types():
        for state in (f"Train-{task_type}", f"CreateModel-{task_type}"):
            parameters = states[state]["Parameters"]
            if task_type in NETWORK_ISOLATED:
                assert parameters["EnableNetworkIsolation"] is True and "VpcConfig" not in parameters
            else:
                assert parameters["VpcConfig"] == expected and parameters["EnableNetworkIsolation"] is False
    ec2 = _access(configured, _sagemaker_role(configured), "ec2")
    assert {r for r in ec2["ec2:CreateNetworkInterface"]} >= {
        f"arn:aws:ec2:us-east-1:<AWS::AccountId>:subnet/{subnet}" for subnet in VPC["subnetIds"]}


@pytest.mark.parametrize(("context", "named"), [
    ({"dataBuckets": ["s3://my-images"]}, "dataBuckets"),
    ({"dataBuckets": "my-images"}, "dataBuckets"),
    ({"dataBuckets": '["ok-bucket", "Not_A_Bucket"]'}, "dataBuckets"),
    ({"kmsKeyArn": "alias/my-key"}, "kmsKeyArn"),
    ({"imageJobsVpc": {"subnetIds": ["subnet-0abc1234"]}}, "imageJobsVpc.securityGroupIds"),
    ({"imageJobsVpc": {"subnetIds": ["vpc-0abc1234"], "securityGroupIds": ["sg-0abc1234"]}},
     "imageJobsVpc.subnetIds[0]"),
])
def test_a_bad_setting_is_refused_naming_it_with_an_example(context, named):
    with pytest.raises(StackSettingsError) as refused:
        parse_settings(context)
    message = str(refused.value)
    assert message.startswith(f"cdk.json context setting {named}:") and "for example" in message


def test_settings_given_on_the_command_line_as_json_text_are_read():
    parsed = parse_settings({"dataBuckets": '["a-bucket", "b.bucket"]', "imageJobsVpc": None})
    assert parsed.data_buckets == ("a-bucket", "b.bucket") and parsed.image_jobs_vpc is None


def test_synth_with_a_bad_setting_stops_with_the_settings_message(tmp_path):
    from infra.app import build_app

    with pytest.raises(StackSettingsError, match="dataBuckets"):
        build_app(str(tmp_path / "cdk.out"), context={BUNDLING_STACKS: [], "dataBuckets": ["arn:aws:s3:::b"]})
