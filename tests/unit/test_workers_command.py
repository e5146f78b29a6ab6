"""`autolabel workers add EMAIL` against moto's CloudFormation and Cognito: the worker is created in
the stack's user pool with an emailed invitation; every refusal is one line saying what to do."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from autolabel import cli, workers
from infra.names import LABELING_PAGE_URL_OUTPUT, STACK_NAME, USER_POOL_ID_OUTPUT

REGION = "eu-west-1"
PAGE = "https://d111111abcdef8.cloudfront.net/"


@pytest.fixture
def aws(monkeypatch):
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def pool(aws) -> str:
    """A user pool like the stack's: the email is the username."""
    cognito = boto3.client("cognito-idp", region_name=REGION)
    return cognito.create_user_pool(PoolName="workers", UsernameAttributes=["email"])["UserPool"]["Id"]


def _deploy(stack_name: str, outputs: dict[str, str]) -> None:
    """A stand-in for the deployed stack: a resource moto knows and the outputs the command reads."""
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {name: {"Value": value} for name, value in outputs.items()}}
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=stack_name, TemplateBody=json.dumps(template))


@pytest.fixture
def stack(pool) -> str:
    _deploy(STACK_NAME, {USER_POOL_ID_OUTPUT: pool, LABELING_PAGE_URL_OUTPUT: PAGE, "JobsBucket": "jobs"})
    return pool


def _user(pool: str, email: str) -> dict:
    cognito = boto3.client("cognito-idp", region_name=REGION)
    (user,) = cognito.list_users(UserPoolId=pool, Filter=f'email = "{email}"')["Users"]
    return {"status": user["UserStatus"], **{a["Name"]: a["Value"] for a in user["Attributes"]}}


def _main(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(["workers", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_worker_is_created_in_the_stacks_pool_with_a_verified_email_and_told_the_page(stack, capsys):
    code, out, err = _main(["add", "ada@example.org"], capsys)
    assert code == 0 and err == ""
    user = _user(stack, "ada@example.org")
    assert user["status"] == "FORCE_CHANGE_PASSWORD"  # the temporary password from the invitation
    assert user["email"] == "ada@example.org" and user["email_verified"] == "true"
    assert "invited ada@example.org" in out and f"labeling page: {PAGE}" in out
    assert f"user pool: {stack} (stack {STACK_NAME})" in out


def test_the_invitation_is_emailed(pool, monkeypatch):
    calls = []
    cognito = boto3.client("cognito-idp", region_name=REGION)
    real = cognito.admin_create_user
    monkeypatch.setattr(cognito, "admin_create_user", lambda **request: calls.append(request) or real(**request))
    workers.invite_worker(cognito, pool, "ada@example.org")
    (request,) = calls
    assert request["DesiredDeliveryMediums"] == ["EMAIL"] and request["Username"] == "ada@example.org"
    assert "MessageAction" not in request  # SUPPRESS would send nothing
    assert {"Name": "email_verified", "Value": "true"} in request["UserAttributes"]


def test_another_stack_and_region_are_named_with_options(pool, capsys, monkeypatch):
    _deploy("Labeling-Test", {USER_POOL_ID_OUTPUT: pool, LABELING_PAGE_URL_OUTPUT: PAGE})
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    code, out, _ = _main(["add", "bo@example.org", "--stack", "Labeling-Test", "--region", REGION], capsys)
    assert code == 0 and "(stack Labeling-Test)" in out
    assert _user(pool, "bo@example.org")["email"] == "bo@example.org"


def test_the_pool_can_be_named_without_a_stack(pool, capsys):
    code, out, _ = _main(["add", "cy@example.org", "--user-pool-id", pool], capsys)
    assert code == 0 and f"user pool: {pool}\n" in out
    assert f"the stack's {LABELING_PAGE_URL_OUTPUT} output" in out
    assert _user(pool, "cy@example.org")["status"] == "FORCE_CHANGE_PASSWORD"


def test_no_such_stack_names_the_stack_region_and_the_options(aws, capsys):
    code, out, err = _main(["add", "ada@example.org", "--stack", "Missing"], capsys)
    assert code == 1 and out == ""
    assert err == (f"autolabel: there is no stack 'Missing' in {REGION}: deploy autolabel there (npx cdk deploy), "
                   "or name its stack with --stack and its region with --region\n")


def test_a_stack_deployed_before_the_labeling_page_is_told_to_deploy_again(aws, capsys):
    _deploy(STACK_NAME, {"JobsBucket": "jobs"})
    code, _, err = _main(["add", "ada@example.org"], capsys)
    assert code == 1 and f"has no {USER_POOL_ID_OUTPUT} output" in err and "deploy it again" in err


def test_an_existing_worker_is_told_how_to_resend_the_invitation(stack, capsys):
    assert _main(["add", "ada@example.org"], capsys)[0] == 0
    code, _, err = _main(["add", "ada@example.org"], capsys)
    assert code == 1
    assert "ada@example.org is a worker already" in err
    assert "autolabel workers add ada@example.org --resend" in err
    code, out, err = _main(["add", "ada@example.org", "--resend"], capsys)
    assert code == 0 and "sent a new invitation to ada@example.org" in out


@pytest.mark.parametrize("email", ["ada", "ada@", "@example.org", "ada@example", "ada lovelace@example.org", ""])
def test_an_invalid_email_is_refused_before_aws_is_called(email, capsys, monkeypatch):
    monkeypatch.setattr(boto3, "Session", lambda **_: pytest.fail("no AWS call for a bad address"))
    code, _, err = _main(["add", email], capsys)
    assert code == 1 and err == f"autolabel: {email!r} is not an email address; the worker's invitation is sent there\n"


def test_an_address_cognito_refuses_is_reported_with_cognitos_reason(pool):
    cognito = boto3.client("cognito-idp", region_name=REGION)
    refusal = ClientError({"Error": {"Code": "InvalidParameterException", "Message": "Invalid email address format."}},
                          "AdminCreateUser")
    message = workers._explain(refusal, email="ada@example.org", user_pool_id=pool, resend=False)
    assert message == "Cognito refused 'ada@example.org': Invalid email address format."
    with pytest.raises(ClientError):  # moto checks the username's form as Cognito does
        workers.invite_worker(cognito, pool, "not-an-email")


def test_a_deleted_pool_is_reported(stack, capsys):
    boto3.client("cognito-idp", region_name=REGION).delete_user_pool(UserPoolId=stack)
    code, _, err = _main(["add", "ada@example.org"], capsys)
    assert code == 1 and f"the workers' user pool {stack} does not exist" in err


def test_no_credentials_is_one_line_saying_how_to_configure_them(no_aws_credentials, capsys):
    code, out, err = _main(["add", "ada@example.org", "--region", REGION], capsys)
    assert code == 1 and out == ""
    assert err.startswith("autolabel: no AWS credentials found: configure them") and err.count("\n") == 1


def test_no_region_is_one_line_naming_the_option(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for key in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    code, _, err = _main(["add", "ada@example.org"], capsys)
    assert code == 1 and err.startswith("autolabel: no AWS region: pass --region")


def test_refused_credentials_and_missing_permissions_are_explained():
    def refusal(code):
        return ClientError({"Error": {"Code": code, "Message": "nope"}}, "DescribeStacks")

    expired = workers._explain(refusal("ExpiredToken"), email="a@b.org", user_pool_id="p", resend=False)
    assert expired == "your AWS credentials were refused (ExpiredToken): refresh them and try again"
    denied = workers._explain(refusal("AccessDenied"), email="a@b.org", user_pool_id="p", resend=False)
    assert "cloudformation:DescribeStacks and cognito-idp:AdminCreateUser" in denied


def test_the_command_prints_to_the_given_stream(stack):
    out = io.StringIO()
    args = cli._parser().parse_args(["workers", "add", "dee@example.org"])
    assert workers.run(args, out=out) == 0
    assert out.getvalue().splitlines()[-1] == f"labeling page: {PAGE}"
