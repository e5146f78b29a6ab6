"""The stack's settings: cdk.json's "context" (or `cdk deploy -c NAME=VALUE`), validated here.

Every setting is optional; without any, the stack reads only its own job bucket, creates its own
customer-managed KMS key, and runs image jobs outside a VPC. A bad value stops synth with the
setting's name, what is wrong and an example, never with a traceback of the CDK's.

  dataBuckets     ["bucket", ...]  buckets besides the job bucket that manifests' `source-ref`s may
                                   name; granted read-only (GetObject, ListBucket) to ValidateJob, the
                                   task API (its presigned image URLs) and the SageMaker role.
  kmsKeyArn       "arn:aws:kms:..."  an existing key instead of the stack's own (its key policy must let
                                   this account's IAM policies use it, as a key's default policy does).
  imageJobsVpc    {"subnetIds": [...], "securityGroupIds": [...]}  image task types' training jobs
                                   and models run in these subnets (text jobs are network-isolated
                                   instead: docs in infra/constructs/models.py).
  notificationEmail     "ops@example.com"  subscribed to the notifications topic (SNS mails a
                                   confirmation link first): job ends and alarms
                                   (infra/constructs/monitoring.py).
  humanBatchAlarmHours  24         the age, in hours, past which a human batch that still waits for
                                   its workers raises the alarm.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from constructs import Construct
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

# S3's rules for a bucket name (general purpose buckets): 3-63 characters of a-z, 0-9, '.', '-',
# starting and ending with a letter or digit.
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
KMS_KEY_ARN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[a-zA-Z0-9-]+$"
SUBNET_ID = r"^subnet-[0-9a-f]{8,17}$"
SECURITY_GROUP_ID = r"^sg-[0-9a-f]{8,17}$"
# An address SNS can mail (one @, a dot in the domain, no spaces); SNS itself checks the rest.
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

SETTINGS = {"dataBuckets": "data_buckets", "kmsKeyArn": "kms_key_arn", "imageJobsVpc": "image_jobs_vpc",
            "notificationEmail": "notification_email", "humanBatchAlarmHours": "human_batch_alarm_hours"}
EXAMPLES = {
    "dataBuckets": '["my-images-bucket"]',
    "kmsKeyArn": '"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"',
    "imageJobsVpc": '{"subnetIds": ["subnet-0abc1234"], "securityGroupIds": ["sg-0abc1234"]}',
    "notificationEmail": '"ops@example.com"',
    "humanBatchAlarmHours": "24",
}


class StackSettingsError(ValueError):
    """A cdk.json context setting is not valid; the message names it and shows a valid one."""


class VpcSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subnetIds: list[Annotated[str, StringConstraints(pattern=SUBNET_ID)]] = Field(min_length=1)
    securityGroupIds: list[Annotated[str, StringConstraints(pattern=SECURITY_GROUP_ID)]] = Field(
        min_length=1, max_length=5)  # SageMaker's limit


class StackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_buckets: tuple[str, ...] = ()
    kms_key_arn: Annotated[str, StringConstraints(pattern=KMS_KEY_ARN)] | None = None
    image_jobs_vpc: VpcSettings | None = None
    notification_email: Annotated[str, StringConstraints(pattern=EMAIL)] | None = None
    # Longer than a day or two is usual for a human batch (Ground Truth's own default availability
    # is 10 days); at most 30 days, the longest a batch can be open (TaskAvailabilityLifetimeInSeconds).
    human_batch_alarm_hours: float = Field(default=24, gt=0, le=720)

    @field_validator("data_buckets")
    @classmethod
    def _bucket_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not BUCKET_NAME.match(name) or ".." in name:
                raise ValueError(f"{name!r} is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-'; "
                                 "a name, not an s3:// URI or an ARN)")
        if len(set(names)) != len(names):
            raise ValueError("lists a bucket twice")
        return names


def _context_value(value: Any) -> Any:
    # `-c dataBuckets='["b"]'` arrives as a string; cdk.json gives JSON values as they are.
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def parse_settings(context: dict[str, Any]) -> StackSettings:
    """The settings found in `context` (setting name -> value); raises StackSettingsError."""
    given = {field: _context_value(context[name]) for name, field in SETTINGS.items() if context.get(name) is not None}
    try:
        return StackSettings(**given)
    except ValidationError as error:
        problem = error.errors()[0]
        field = str(problem["loc"][0])
        name = next(name for name, f in SETTINGS.items() if f == field)
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem["loc"][1:])
        message = problem["msg"].removeprefix("Value error, ")
        raise StackSettingsError(
            f"cdk.json context setting {name}{where}: {message}; for example \"{name}\": {EXAMPLES[name]} "
            "(or leave it out)"
        ) from None


def stack_settings(scope: Construct) -> StackSettings:
    return parse_settings({name: scope.node.try_get_context(name) for name in SETTINGS})
