"""Human tasks: the table behind HumanLabeling (with its OpenTasks index), and what the task API
function may do.

The task API (docs/task-api.md) is one function behind the HTTP API (task_api.py); the local
cloud's gateway and the simulated workforce call the same function.
"""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.job_access import SOURCE_OBJECTS
from labeling import task_table

TASK_API_TIMEOUT = Duration.seconds(30)

# Object keys of the job bucket the task API reads: job files (labels, the batch's items) under
# jobs/<job>/, and the images it presigns GET URLs of for the page, whose source-ref may name
# any key under jobs/ (ValidateJob refuses others), not only the job's own prefix.
TASK_API_READS = SOURCE_OBJECTS
# The only keys it writes: a worker's answer, staged under submissions/ first (beside the
# output, never read as an answer), then the counted one published where
# ConsolidateAnnotations reads it (labeling.dal.worker_responses, labeling.layout).
TASK_API_WRITES = ("jobs/*/output/annotations/worker-response/*", "jobs/*/submissions/*")


class HumanTaskTable(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self, "Tasks",
            partition_key=_string(task_table.PARTITION_KEY),
            sort_key=_string(task_table.SORT_KEY),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED, encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Sparse: a task carries openPk/openSk only while it needs answers (labeling/task_table.py).
        self.table.add_global_secondary_index(
            index_name=task_table.OPEN_TASKS_INDEX,
            partition_key=_string(task_table.OPEN_PARTITION_KEY),
            sort_key=_string(task_table.OPEN_SORT_KEY),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(task_table.OPEN_TASKS_PROJECTED),
        )


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def grant_task_api(fn: iam.IGrantable, *, table: dynamodb.ITable, bucket: s3.IBucket,
                   state_machine: sfn.IStateMachine) -> None:
    """Tasks table read/write (and its key, by the table's grant); job objects read, answers written
    (PutObject only, those keys only); the waiting HumanLabeling state resumed
    (SendTaskSuccess/Failure/Heartbeat). The data buckets' images and the bucket's key are granted
    by the stack (infra/stack.py), as to every function that reads them."""
    table.grant_read_write_data(fn)
    # ListBucket: a missing job file or answer is then a 404 (NoSuchKey), not a 403.
    fn.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
    fn.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["s3:GetObject"], resources=[bucket.arn_for_objects(TASK_API_READS)]))
    fn.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["s3:PutObject"], resources=[bucket.arn_for_objects(key) for key in TASK_API_WRITES]))
    state_machine.grant_task_response(fn)
