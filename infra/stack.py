"""The autolabel stack: storage and trigger, the workflow, human tasks, models."""

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from infra.constructs.functions import LabelingFunctions
from infra.constructs.human_tasks import TASK_API_TIMEOUT, HumanTaskTable
from infra.constructs.models import ModelImages, available_task_types
from infra.constructs.storage import JobStorage
from infra.constructs.trigger import JobTrigger
from infra.constructs.workflow import LabelingWorkflow
from labeling import settings

HANDLERS = "labeling.handlers"

# Functions the state machine invokes, by their module in functions/labeling/handlers/.
WORKFLOW_FUNCTIONS = (
    "validate_job", "select_sample", "publish_human_tasks", "consolidate_annotations",
    "compute_threshold", "apply_threshold", "select_ambiguous", "write_output", "record_failure",
)


def _construct_id(module: str) -> str:
    return "".join(part.title() for part in module.split("_"))


class AutolabelStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        storage = JobStorage(self, "Storage")
        human_tasks = HumanTaskTable(self, "HumanTasks")
        models = ModelImages(self, "Models", bucket=storage.bucket)
        functions = LabelingFunctions(self, "Functions", environment={
            settings.TASKS_TABLE_ENV: human_tasks.table.table_name,
            settings.AVAILABLE_TASK_TYPES_ENV: ",".join(available_task_types()),
        })

        workflow_functions = {
            module: functions.function(_construct_id(module), f"{HANDLERS}.{module}.handler")
            for module in WORKFLOW_FUNCTIONS
        }
        for fn in workflow_functions.values():
            storage.bucket.grant_read_write(fn)
        functions.add_plotting(workflow_functions["write_output"])  # the report's plot
        human_tasks.table.grant_write_data(workflow_functions["publish_human_tasks"])

        list_tasks = functions.function("ListTasks", f"{HANDLERS}.human_task_api.list_tasks", timeout=TASK_API_TIMEOUT)
        submit_answer = functions.function(
            "SubmitAnswer", f"{HANDLERS}.human_task_api.submit_answer", timeout=TASK_API_TIMEOUT)
        human_tasks.table.grant_read_data(list_tasks)
        human_tasks.table.grant_read_write_data(submit_answer)
        storage.bucket.grant_read_write(submit_answer)

        workflow = LabelingWorkflow(
            self, "Workflow", functions=workflow_functions, images=models.images, sagemaker_role=models.role,
        )
        workflow.state_machine.grant_task_response(submit_answer)

        start_job = functions.function(
            "StartJob", f"{HANDLERS}.start_job.handler", timeout=Duration.seconds(30),
            environment={settings.STATE_MACHINE_ENV: workflow.state_machine.state_machine_arn},
        )
        workflow.state_machine.grant_start_execution(start_job)
        storage.bucket.grant_put(start_job)  # failure.json for an upload that cannot start a job
        JobTrigger(self, "Trigger", bucket=storage.bucket, start_job=start_job)

        self.bucket = storage.bucket
        self.state_machine = workflow.state_machine
        CfnOutput(self, "JobsBucket", value=storage.bucket.bucket_name)
        CfnOutput(self, "StateMachine", value=workflow.state_machine.state_machine_arn)
        CfnOutput(self, "HumanTasksTable", value=human_tasks.table.table_name)
        CfnOutput(self, "ListTasksFunction", value=list_tasks.function_name)
        CfnOutput(self, "SubmitAnswerFunction", value=submit_answer.function_name)
        CfnOutput(self, "StartJobFunction", value=start_job.function_name)
