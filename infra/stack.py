"""The autolabel stack: storage and trigger, the workflow, human tasks, models, and the
workers' side: the task API, its Cognito user pool and the labeling page."""

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from infra.config import stack_settings
from infra.constructs.functions import LabelingFunctions
from infra.constructs.human_tasks import TASK_API_TIMEOUT, HumanTaskTable, grant_task_api
from infra.constructs.job_access import OTHER_ACCESS, WORKFLOW_ACCESS, grant_job_access
from infra.constructs.labeling_page import LabelingPage, page_config
from infra.constructs.models import ModelImages, available_task_types, grant_data_buckets
from infra.constructs.monitoring import Monitoring
from infra.constructs.storage import JobStorage
from infra.constructs.task_api import TaskHttpApi
from infra.constructs.trigger import JobTrigger
from infra.constructs.workers import WorkerPool
from infra.constructs.workflow import LabelingWorkflow
from infra.names import LABELING_PAGE_URL_OUTPUT, TASK_API_FUNCTION_OUTPUT, USER_POOL_ID_OUTPUT
from labeling import settings

HANDLERS = "labeling.handlers"

# Functions the state machine invokes, by their module in functions/labeling/handlers/.
WORKFLOW_FUNCTIONS = (
    "validate_job", "select_sample", "publish_human_tasks", "consolidate_annotations",
    "compute_threshold", "apply_threshold", "select_ambiguous", "write_output", "record_failure", "resume_job",
    "select_audit", "consolidate_audit",
)


def _construct_id(module: str) -> str:
    return "".join(part.title() for part in module.split("_"))


class AutolabelStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        config = stack_settings(self)  # cdk.json's context (infra/config.py)
        storage = JobStorage(self, "Storage", settings=config)
        human_tasks = HumanTaskTable(self, "HumanTasks", key=storage.key)
        models = ModelImages(self, "Models", bucket=storage.bucket, key=storage.key, settings=config)
        functions = LabelingFunctions(self, "Functions", environment={
            settings.TASKS_TABLE_ENV: human_tasks.table.table_name,
            settings.AVAILABLE_TASK_TYPES_ENV: ",".join(available_task_types()),
        })

        workflow_functions = {
            module: functions.function(_construct_id(module), f"{HANDLERS}.{module}.handler")
            for module in WORKFLOW_FUNCTIONS
        }
        # Each function only the keys it touches (infra/constructs/job_access.py); ValidateJob also
        # reads the data buckets' images, and refuses a source-ref in any other bucket.
        for module, fn in workflow_functions.items():
            grant_job_access(fn, storage.bucket, WORKFLOW_ACCESS[module])
            storage.grant_key_use(fn)
        grant_data_buckets(workflow_functions["validate_job"], config.data_buckets)
        workflow_functions["validate_job"].add_environment(settings.DATA_BUCKETS_ENV, ",".join(config.data_buckets))
        # The report's plot: WriteOutput's, and RecordFailure's and RecordStop's for a job that ended early.
        functions.add_plotting(workflow_functions["write_output"])
        functions.add_plotting(workflow_functions["record_failure"])
        human_tasks.table.grant_write_data(workflow_functions["publish_human_tasks"])

        workflow = LabelingWorkflow(
            self, "Workflow", functions=workflow_functions, images=models.images, sagemaker_role=models.role,
            model_key=storage.key, networks=models.networks,
        )

        # The workers' side (docs/task-api.md). Made in this order because each needs the one
        # before: API -> distribution (its /api/* origin) -> user-pool client (the page's URL)
        # -> authorizer (the client) -> routes.
        task_api = functions.function("TaskApi", f"{HANDLERS}.task_api.handler", timeout=TASK_API_TIMEOUT)
        grant_task_api(task_api, table=human_tasks.table, bucket=storage.bucket, state_machine=workflow.state_machine)
        grant_data_buckets(task_api, config.data_buckets)  # presigned GETs of their images
        storage.grant_key_use(task_api)
        http_api = TaskHttpApi(self, "TaskHttpApi", handler=task_api)
        page = LabelingPage(self, "LabelingPage", api_domain=http_api.domain_name, log_bucket=storage.access_logs)
        workers = WorkerPool(self, "WorkerPool", page_url=page.url)
        http_api.add_routes(workers.authorizer())
        page.deploy(page_config(
            hosted_ui_url=workers.hosted_ui_url, client_id=workers.page_client.user_pool_client_id,
            redirect_uri=page.url,
        ))

        start_job = functions.function(
            "StartJob", f"{HANDLERS}.start_job.handler", timeout=Duration.seconds(30),
            environment={settings.STATE_MACHINE_ENV: workflow.state_machine.state_machine_arn},
        )
        workflow.state_machine.grant_start_execution(start_job)
        # failure.json for an upload that cannot start a job
        grant_job_access(start_job, storage.bucket, OTHER_ACCESS["start_job"])
        storage.grant_key_use(start_job)
        # trigger.dead_letters: uploads that started no job (alarm on it, redrive it to trigger.uploads)
        self.trigger = JobTrigger(self, "Trigger", bucket=storage.bucket, start_job=start_job)

        # A stopped (or timed-out) execution runs no state: its outputs so far come from here.
        record_stop = functions.function("RecordStop", f"{HANDLERS}.record_stop.handler")
        grant_job_access(record_stop, storage.bucket, OTHER_ACCESS["record_stop"])
        storage.grant_key_use(record_stop)
        functions.add_plotting(record_stop)
        events.Rule(
            self, "ExecutionStopped",
            description="A labeling job's execution was stopped or timed out: write its outputs so far",
            event_pattern=events.EventPattern(
                source=["aws.states"], detail_type=["Step Functions Execution Status Change"],
                detail={"status": ["ABORTED", "TIMED_OUT"],
                        "stateMachineArn": [workflow.state_machine.state_machine_arn]},
            ),
            targets=[targets.LambdaFunction(record_stop, retry_attempts=8)],
        )

        # Console monitoring (infra/constructs/monitoring.py): made last, so that its alarms and
        # dashboard cover every function of the stack, its own HumanBatchAge included.
        self.monitoring = Monitoring(
            self, "Monitoring", functions=functions, state_machine=workflow.state_machine,
            tasks_table=human_tasks.table, dead_letters=self.trigger.dead_letters, bucket=storage.bucket,
            settings=config,
        )

        self.bucket = storage.bucket
        self.state_machine = workflow.state_machine
        CfnOutput(self, "JobsBucket", value=storage.bucket.bucket_name)
        CfnOutput(self, "StateMachine", value=workflow.state_machine.state_machine_arn)
        CfnOutput(self, "HumanTasksTable", value=human_tasks.table.table_name)
        CfnOutput(self, "StartJobFunction", value=start_job.function_name)
        CfnOutput(self, "UploadsQueue", value=self.trigger.uploads.queue_url)
        CfnOutput(self, "UploadDeadLetterQueue", value=self.trigger.dead_letters.queue_url)
        CfnOutput(self, TASK_API_FUNCTION_OUTPUT, value=task_api.function_name)  # the local gateway finds it by this
        CfnOutput(self, "TaskApiUrl", value=http_api.url)
        CfnOutput(self, USER_POOL_ID_OUTPUT, value=workers.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=workers.page_client.user_pool_client_id)
        CfnOutput(self, "UserPoolDomain", value=workers.hosted_ui_url)
        CfnOutput(self, LABELING_PAGE_URL_OUTPUT, value=page.url)
        CfnOutput(self, "DashboardUrl", value=self.monitoring.dashboard_url)
        CfnOutput(self, "NotificationsTopic", value=self.monitoring.topic.topic_arn)  # subscribe an email to it
