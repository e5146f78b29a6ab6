"""Names that code outside the CDK app reads the deployed stack by (no CDK import here, so the
CLI can use them without starting the CDK's runtime)."""

STACK_NAME = "Autolabel"

# Stack outputs (infra/stack.py) that other code looks up by name.
TASK_API_FUNCTION_OUTPUT = "TaskApiFunction"  # the local cloud's gateway
USER_POOL_ID_OUTPUT = "UserPoolId"  # autolabel workers add
LABELING_PAGE_URL_OUTPUT = "LabelingPageUrl"  # autolabel workers add
