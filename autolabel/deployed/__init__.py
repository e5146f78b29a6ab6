"""Commands against a deployed autolabel stack: submit a job, follow it, stop or resume it,
download its outputs, list the jobs, and deploy a job's final model to an endpoint.

They find the stack by name (its CloudFormation outputs, `stack.py`) and talk to AWS with boto3
as the user's configuration says (`--region`, `--profile`, and `AWS_ENDPOINT_URL`, which boto3
honours itself: the tests point it at moto's server). docs/jobs.md describes them.
"""
