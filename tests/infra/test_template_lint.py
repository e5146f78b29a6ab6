"""cfn-lint and checkov over the template `cdk synth` writes (cdk.json's feature flags applied).

cfn-lint must be clean. checkov's failed checks must each be a (check, resources) pair of
CHECKOV_ACCEPTED below, with the reason it does not apply; a new failure, or one on another resource,
fails the test. cdk-nag runs at every synth (infra/nag.py; tests/infra/test_stack.py checks its report).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from autolabel.localcloud.cloud import BUNDLING_STACKS

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"

# Our functions and CDK's own helper functions (S3 notifications, the page's BucketDeployment).
_ALL_FUNCTIONS = r"Functions\w+|BucketNotificationsHandler\w+|CustomCDKBucketDeployment\w+"
_CDK_DEPLOYMENT = r"CustomCDKBucketDeployment\w+"

# (check id, resources it may fail on (fullmatch of the logical id), why it does not apply)
CHECKOV_ACCEPTED: list[tuple[str, str, str]] = [
    ("CKV_AWS_115", _ALL_FUNCTIONS,
     "reserved concurrency would cap how many jobs and workers run at once; Lambda's account limit applies"),
    ("CKV_AWS_116", _ALL_FUNCTIONS,
     "no function is invoked asynchronously without a retry owner: Step Functions invokes the workflow's "
     "(a failure goes to its Catch and RecordFailure), the HTTP API the task API, an SQS event source "
     "StartJob (its queue has a dead-letter queue), EventBridge RecordStop (8 retries), EventBridge "
     "Scheduler HumanBatchAge (a metric whose next run measures again); CDK's helpers are custom resources"),
    ("CKV_AWS_117", _ALL_FUNCTIONS,
     "the functions reach only AWS APIs (S3, DynamoDB, Step Functions) and no private resource; a VPC "
     "would add NAT or endpoints and nothing to isolate"),
    ("CKV_AWS_173", _ALL_FUNCTIONS,
     "environment variables hold resource names and settings, no secret; Lambda encrypts them at rest"),
    ("CKV_AWS_158", r"\w*Logs\w*|\w*LogGroup\w*",
     "log groups are encrypted by CloudWatch Logs; a customer-managed key would need a key policy grant "
     "to logs.<region>.amazonaws.com, which a key given by the kmsKeyArn setting may not have"),
    ("CKV_AWS_27", r"Trigger(Uploads|Undelivered)\w+",
     "SQS-managed encryption (SSE-SQS); EventBridge can send to a queue under a customer-managed key "
     "only if the key policy allows events.amazonaws.com (infra/constructs/storage.py); the messages "
     "are S3 event notices, no job data"),
    ("CKV_AWS_18", r"StorageAccessLogs\w+", "the access-log bucket itself: its own access would log into itself"),
    ("CKV_AWS_21", r"StorageAccessLogs\w+|LabelingPageSite\w+",
     "access logs expire after a year and are never rewritten; the site bucket holds the page, "
     "redeployed from web/ by every deploy"),
    ("CKV_AWS_68", r"LabelingPageDistribution\w+",
     "as cdk-nag's CFR2 (infra/nag.py): every /api/* route needs a Cognito JWT and is throttled; a WAF "
     "web ACL can be attached with the distribution's web_acl_id"),
    ("CKV_AWS_174", r"LabelingPageDistribution\w+",
     "as cdk-nag's CFR4 (infra/nag.py): the default *.cloudfront.net certificate, whose policy CloudFront "
     "fixes; TLSv1.2_2021 needs a custom domain and an ACM certificate"),
    ("CKV_AWS_111", _CDK_DEPLOYMENT + r"ServiceRoleDefaultPolicy\w+",
     "CDK's BucketDeployment handler: cloudfront:CreateInvalidation, which takes no resource condition"),
]


@pytest.fixture(scope="module")
def template_file(tmp_path_factory) -> Path:
    """The template as `cdk synth` makes it: cdk.json's context (feature flags) applied, assets unbundled."""
    from infra.app import STACK_NAME, build_app

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    app, _ = build_app(str(tmp_path_factory.mktemp("lint") / "cdk.out"), context={**context, BUNDLING_STACKS: []})
    return Path(app.synth().get_stack_by_name(STACK_NAME).template_full_path)


def _cdk_depends_on_its_role(match) -> bool:
    """W3005 where a function (or the state machine) DependsOn the role it also names by GetAtt: the CDK
    adds the DependsOn so that the role's policy exists before the resource, which the GetAtt alone
    does not ensure (the policy is a resource of its own)."""
    return match.rule.id == "W3005" and re.search(r"Properties/Role(Arn)?'?$", match.message) is not None


def test_cfn_lint_finds_nothing(template_file):
    from cfnlint.api import lint_file

    findings = [m for m in lint_file(template_file) if not _cdk_depends_on_its_role(m)]
    assert findings == [], "\n".join(f"{m.rule.id} {m.message} ({m.path})" for m in findings)


def test_checkov_fails_no_check_but_the_justified_ones(template_file, tmp_path):
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}; run `make checkov-setup` (part of `make setup`)")
    ran = subprocess.run(
        [str(CHECKOV), "--file", str(template_file), "--framework", "cloudformation", "--output", "json",
         "--quiet", "--compact", "--skip-download"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert ran.stdout, ran.stderr
    report = json.loads(ran.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0
    unjustified = []
    for failed in report["results"]["failed_checks"]:
        resource = failed["resource"].split(".", 1)[-1]
        if not any(check == failed["check_id"] and re.fullmatch(where, resource)
                   for check, where, _ in CHECKOV_ACCEPTED):
            unjustified.append(f"{failed['check_id']} {failed['check_name']}: {resource}")
    assert unjustified == [], "\n".join(unjustified)
    assert report["summary"]["passed"] > 0
