"""What Powertools reads of a Lambda context, for tests that call a handler directly."""

from dataclasses import dataclass


@dataclass
class Context:
    function_name: str = "TaskApi"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:TaskApi"
    aws_request_id: str = "request"
