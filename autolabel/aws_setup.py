"""What boto3 raises when the user's AWS setup is missing or wrong (credentials, region, profile, an
endpoint it cannot reach), as one line for the user: `autolabel workers` and the job commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

NO_CREDENTIALS = ("no AWS credentials found: configure them (aws configure, AWS_PROFILE or "
                  "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) for the account the stack is in")
NO_REGION = "no AWS region: pass --region, or set AWS_REGION or your profile's region"


@contextmanager
def setup_errors(error: type[Exception]) -> Iterator[None]:
    """Raise `error` with the line a user can act on; a service's refusal (ClientError) is the caller's."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise error(NO_CREDENTIALS) from None
    except NoRegionError:
        raise error(NO_REGION) from None
    except ProfileNotFound as found:
        raise error(f"{found}: pass a --profile that your AWS configuration has") from None
    except BotoCoreError as failure:  # endpoint unreachable and the like
        raise error(f"could not reach AWS: {failure}") from None
