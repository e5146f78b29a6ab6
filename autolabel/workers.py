"""`autolabel workers add EMAIL`: invite a worker to the deployed stack's labeling page.

The stack's Cognito user pool (its UserPoolId output) admits only the workers an admin
creates. This creates one with their email as the username; Cognito emails them the page's
address and a temporary password (the pool's invitation, infra/constructs/workers.py), and
they choose their own password at their first sign-in.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, TextIO

import boto3
from botocore.exceptions import ClientError

from autolabel.aws_setup import setup_errors
from infra.names import LABELING_PAGE_URL_OUTPUT, STACK_NAME, USER_POOL_ID_OUTPUT

# One @, something before it, a dot in the domain, no spaces: what Cognito's email attribute
# needs to deliver an invitation. Cognito checks the address again.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
# What AWS answers when the credentials exist but are not (or no longer) valid.
BAD_CREDENTIALS = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                   "InvalidSignatureException", "SignatureDoesNotMatch"}
ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "NotAuthorizedException"}


class WorkersError(Exception):
    """A reason the command could not do what was asked, for the user to read."""


# --------------------------------------------------------- AWS calls ----

def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs by name (CloudFormation DescribeStacks)."""
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if _code(error) == "ValidationError" and "does not exist" in _message(error):
            region = cloudformation.meta.region_name
            raise WorkersError(
                f"there is no stack {stack_name!r} in {region}: deploy autolabel there (npx cdk deploy), "
                "or name its stack with --stack and its region with --region") from None
        raise
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def invite_worker(cognito: Any, user_pool_id: str, email: str, *, resend: bool = False) -> dict[str, Any]:
    """Create the worker in the pool (Cognito AdminCreateUser); Cognito emails the invitation.

    `resend`: the worker exists and has not signed in yet; send them a new temporary password.
    """
    request: dict[str, Any] = {"UserPoolId": user_pool_id, "Username": email, "DesiredDeliveryMediums": ["EMAIL"]}
    if resend:
        request["MessageAction"] = "RESEND"
    else:
        request["UserAttributes"] = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
    return cognito.admin_create_user(**request)["User"]


# --------------------------------------------------------- the command ----

def add_parser(commands: argparse._SubParsersAction) -> None:
    """`autolabel workers ...` under the CLI's subcommands."""
    workers = commands.add_parser("workers", help="manage who may label on the deployed labeling page")
    actions = workers.add_subparsers(dest="workers_command", required=True, metavar="{add}")
    add = actions.add_parser(
        "add", help="invite a worker by email (Cognito emails them the page and a temporary password)")
    add.add_argument("email", help="the worker's email address; it is also their username")
    add.add_argument("--stack", default=STACK_NAME, help="the deployed stack's name (default %(default)s)")
    add.add_argument("--region", help="the stack's region (default: your AWS configuration's)")
    add.add_argument("--user-pool-id", help="the workers' user pool, instead of looking it up in the stack")
    add.add_argument("--resend", action="store_true",
                     help="send a worker who has not signed in yet a new invitation and temporary password")


def run(args: argparse.Namespace, out: TextIO | None = None, session: boto3.Session | None = None) -> int:
    """`autolabel workers add`; 0 when the worker was invited, 1 with one line why not."""
    out = out or sys.stdout
    try:
        _add(args, out, session)
    except WorkersError as error:
        print(f"autolabel: {error}", file=sys.stderr)
        return 1
    return 0


def _add(args: argparse.Namespace, out: TextIO, session: boto3.Session | None) -> None:
    email = args.email.strip()
    if not EMAIL.fullmatch(email):
        raise WorkersError(f"{args.email!r} is not an email address; the worker's invitation is sent there")
    session = session or boto3.Session(region_name=args.region)
    user_pool_id = args.user_pool_id
    with setup_errors(WorkersError):
        try:
            page_url = None
            if not user_pool_id:
                outputs = stack_outputs(session.client("cloudformation"), args.stack)
                user_pool_id = outputs.get(USER_POOL_ID_OUTPUT)
                if not user_pool_id:
                    raise WorkersError(
                        f"the stack {args.stack!r} has no {USER_POOL_ID_OUTPUT} output: it was deployed before the "
                        "labeling page existed; deploy it again (npx cdk deploy)")
                page_url = outputs.get(LABELING_PAGE_URL_OUTPUT)
            cognito = session.client("cognito-idp")
            user = invite_worker(cognito, user_pool_id, email, resend=args.resend)
        except ClientError as error:
            raise WorkersError(_explain(error, email=email, user_pool_id=user_pool_id, resend=args.resend)) from None
    verb = "sent a new invitation to" if args.resend else "invited"
    print(f"{verb} {email} (status {user.get('UserStatus', 'unknown')}): Cognito emails them a temporary "
          "password, which they change at their first sign-in", file=out)
    print(f"user pool: {user_pool_id}" + ("" if args.user_pool_id else f" (stack {args.stack})"), file=out)
    if page_url:
        print(f"labeling page: {page_url}", file=out)
    else:
        print(f"labeling page: the stack's {LABELING_PAGE_URL_OUTPUT} output", file=out)


def _explain(error: ClientError, *, email: str, user_pool_id: str, resend: bool) -> str:
    code, message = _code(error), _message(error)
    if code == "UsernameExistsException":
        return (f"{email} is a worker already; to send them a new invitation (if they have not signed in yet), "
                f"run: autolabel workers add {email} --resend")
    if code == "UserNotFoundException" and resend:
        return f"{email} is not a worker yet; invite them without --resend"
    if code == "UnsupportedUserStateException" and resend:
        return f"{email} has signed in already, so there is no invitation to send again"
    if code == "InvalidParameterException":
        return f"Cognito refused {email!r}: {message}"
    if code == "ResourceNotFoundException":
        return f"the workers' user pool {user_pool_id} does not exist (was the stack deleted?): {message}"
    if code in BAD_CREDENTIALS:
        return f"your AWS credentials were refused ({code}): refresh them and try again"
    if code in ACCESS_DENIED:
        return (f"your AWS credentials may not do this ({code}: {message}); they need "
                "cloudformation:DescribeStacks and cognito-idp:AdminCreateUser")
    return f"AWS refused the request ({code}: {message})"


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _message(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message", "")
