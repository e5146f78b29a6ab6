"""The workers' Cognito user pool: invited by an admin (`autolabel workers add EMAIL`), never self-signed-up.

The labeling page signs workers in through the pool's hosted UI (authorization code grant
with PKCE, a public client without a secret) and calls the task API with the ID token, whose
`aud` is the page client's id and whose `sub` is the worker (docs/task-api.md).
"""

from __future__ import annotations

from aws_cdk import Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_cognito as cognito
from constructs import Construct

# Cognito's limit on a hosted-UI domain prefix, and the part of it the stack name may take
# (the rest is "-workers-" and the 12-digit account id).
DOMAIN_PREFIX_MAX = 63
STACK_NAME_IN_PREFIX_MAX = DOMAIN_PREFIX_MAX - len("-workers-") - 12
# Words Cognito refuses in a prefix.
DOMAIN_PREFIX_RESERVED = ("aws", "amazon", "cognito")

INVITATION_SUBJECT = "You are invited to label data with autolabel"
TEMPORARY_PASSWORD_DAYS = 7


def invitation_body(page_url: str) -> str:
    """Cognito fills in {username} and {####} (the temporary password)."""
    return (
        "You have been invited to label data with autolabel.<br><br>"
        f"Open {page_url} and sign in as {{username}} with the temporary password {{####}}. "
        f"You will then choose your own password. The temporary password expires in {TEMPORARY_PASSWORD_DAYS} days."
    )


def domain_prefix(stack: Stack) -> str:
    """<stack name>-workers-<account id>, lower case: unique per account and region for each stack.

    Hosted-UI prefixes are global within a region, so a fixed one would collide between
    accounts; the account id makes it ours, the stack name lets two stacks share an account.
    The account is a CloudFormation token (AWS::AccountId) unless the app's environment names it.
    """
    name = stack.stack_name
    name = "autolabel" if Token.is_unresolved(name) else name.lower()[:STACK_NAME_IN_PREFIX_MAX].strip("-")
    if any(word in name for word in DOMAIN_PREFIX_RESERVED):
        name = "autolabel"
    return Fn.join("-", [name, "workers", stack.account])


class WorkerPool(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, page_url: str) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self, "Workers",
            self_sign_up_enabled=False,  # an admin creates each worker; Cognito emails the invitation
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),  # the email is the username
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            keep_original=cognito.KeepOriginalAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)),
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_lowercase=True, require_uppercase=True, require_digits=True,
                require_symbols=True, temp_password_validity=Duration.days(TEMPORARY_PASSWORD_DAYS),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Threat protection (compromised credentials, risky sign-ins) needs the Plus plan.
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            user_invitation=cognito.UserInvitationConfig(
                email_subject=INVITATION_SUBJECT, email_body=invitation_body(page_url)),
            removal_policy=RemovalPolicy.RETAIN,  # the workers' accounts outlive a stack update gone wrong
        )
        self.domain = self.user_pool.add_domain(
            "HostedUi",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix(Stack.of(self))),
            managed_login_version=cognito.ManagedLoginVersion.CLASSIC_HOSTED_UI,  # works without branding
        )
        self.page_client = self.user_pool.add_client(
            "LabelingPage",
            generate_secret=False,  # a browser page keeps no secret: authorization code with PKCE
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[page_url], logout_urls=[page_url],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.hours(12),  # a working day; then the worker signs in again
        )

    @property
    def hosted_ui_url(self) -> str:
        """https://<prefix>.auth.<region>.amazoncognito.com"""
        return self.domain.base_url()

    def authorizer(self) -> authorizers.HttpUserPoolAuthorizer:
        """A JWT authorizer: issuer this pool, audience the page client."""
        return authorizers.HttpUserPoolAuthorizer(
            "WorkerJwt", self.user_pool, user_pool_clients=[self.page_client],
            identity_source=["$request.header.Authorization"],
        )
