"""The labeling loop as a Step Functions state machine; reads like ARCHITECTURE.md's diagram.

StartOrResume? -> ValidateJob (an upload: {"bucket", "key"})
               -> ResumeJob -> ResumeAt (a resume: {"resume": {"bucket", "job"}}): the state after
                  the run's last checkpoint (logic/resume.py), given the checkpoint's state
ValidateJob -> SelectSample -> HumanLabeling -> ConsolidateAnnotations -> TrainModel?
  -> TaskType -> InitialModel? -> Train -> CreateModel -> TransformValidation -> TransformPool   (per task type;
     InitialModel? goes straight to TransformValidation when job.json's InitialActiveLearningModelArn
     gives the first model iteration its model)
  -> ComputeThreshold -> ApplyThreshold -> SelectAmbiguous -> MoreToLabel? -> HumanLabeling | WriteOutput
MoreToLabel? -> StoppingConditionMet -> WriteOutput when job.json's StoppingConditions ended the job
(SelectAmbiguous sets $.stopReason; the items left unlabeled are written without a label).
Before WriteOutput, either way: Audit? -> SelectAudit -> AuditLabeling -> ConsolidateAudit -> WriteOutput
when job.json's AuditSampleSize asks for an audit and the loop made machine labels (logic/audit.py):
AuditLabeling is HumanLabeling's function and wait again, for one more human batch: the audit's sample.
Every task's Catch -> RecordFailure -> JobFailed.

The pool is transformed before the threshold is computed (not after, as in the
diagram) so that each task type needs one branch of SageMaker steps.
"""

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.models import JobBucketLocation, ModelImage, ModelNetwork
from labeling.logic import sagemaker_failure
from labeling.logic.resume import RESUME_STATES
from labeling.task_types import TASK_TYPES, TaskType

# How long a human batch may wait for its answers: the job's TaskAvailabilityLifetimeInSeconds
# (Ground Truth's setting; JobConfig gives its default and range, and ValidateJob writes every
# setting into $.job.settings). When it passes, HumanLabeling fails with States.Timeout, which
# its catcher sends to RecordFailure like any other failure.
TASK_AVAILABILITY_PATH = "$.job.settings.TaskAvailabilityLifetimeInSeconds"
JOB_TIMEOUT = Duration.days(90)
# What a Lambda task's failure is called when the function itself did not end: the runtime
# crashed or ran out of memory (Lambda.Unknown) or the function timed out (Sandbox.Timedout).
# Every step is safe to run again (logic/resume.py), so these are retried; a handler's own
# error (bad input, a bug) is not, since running it again gives the same error.
LAMBDA_CRASHES = ["Lambda.Unknown", "Sandbox.Timedout"]


def _instance(name: str) -> ec2.InstanceType:
    return ec2.InstanceType(name.removeprefix("ml."))  # the CDK adds the "ml." prefix


def _run_times(start: str, end: str) -> dict:
    return {"startTime": sfn.JsonPath.number_at(start), "endTime": sfn.JsonPath.number_at(end)}


def _max_payload_mb(table: TaskType) -> int:
    """Mini-batch size of a transform request.

    A text line carries its item, so 6 MB is a few thousand articles. An image line is only
    a reference the container must fetch and run: 1 MB (SageMaker's smallest) is already
    ~12,000 images, minutes of work within one invocation's timeout.
    """
    return 6 if table.source_key == "source" else 1


# SageMaker cuts a transform request after 600 s by default. An image request is a mini-batch
# of up to ~12,000 references (_max_payload_mb) that the container fetches and runs, minutes on
# a CPU instance; the service's maximum keeps a slow request from failing the whole job.
INVOCATIONS_TIMEOUT_SECONDS = 3600


class TransformJobWithTimeout(tasks.SageMakerCreateTransformJob):
    """createTransformJob with ModelClientConfig, which the CDK's L2 task has no property for, and
    TransformResources.InstanceCount read from the state (`instance_count_path`): the L2 task takes
    a number only. SageMaker spreads a transform over instances by input object, so the count
    comes with the shards its input was written as (labeling/logic/sagemaker_step.py)."""

    def __init__(self, scope: Construct, construct_id: str, *, instance_count_path: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._instance_count_path = instance_count_path

    def to_state_json(self, *args: Any, **kwargs: Any) -> Mapping[Any, Any]:
        state = super().to_state_json(*args, **kwargs)
        state["Parameters"]["ModelClientConfig"] = {"InvocationsTimeoutInSeconds": INVOCATIONS_TIMEOUT_SECONDS}
        resources = state["Parameters"]["TransformResources"]
        resources.pop("InstanceCount", None)
        resources["InstanceCount.$"] = self._instance_count_path
        return state


class _InVpc:
    """Parameters.VpcConfig from subnet and security group ids (the stack's imageJobsVpc setting):
    the CDK's L2 tasks take an IVpc, which would need a VPC lookup at synth."""

    # A mixin: super() is the SageMaker task it is mixed into, which mypy cannot see from here.
    def __init__(self, scope: Construct, construct_id: str, *, vpc_config: dict | None, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[call-arg]
        self._vpc_config = vpc_config

    def to_state_json(self, *args: Any, **kwargs: Any) -> Mapping[Any, Any]:
        state = super().to_state_json(*args, **kwargs)  # type: ignore[misc]
        if self._vpc_config:
            state["Parameters"]["VpcConfig"] = self._vpc_config
        return state


class TrainingJobInVpc(_InVpc, tasks.SageMakerCreateTrainingJob):
    pass


class ModelInVpc(_InVpc, tasks.SageMakerCreateModel):
    pass


class LabelingWorkflow(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, functions: Mapping[str, lambda_.IFunction],
        images: dict[str, ModelImage], sagemaker_role: iam.IRole, model_key: kms.IKey,
        networks: dict[str, ModelNetwork],
    ) -> None:
        """model_key encrypts the SageMaker jobs' volumes and outputs; networks: per task type, whether
        its training job and model are network-isolated or in a VPC (infra/constructs/models.py)."""
        super().__init__(scope, construct_id)
        self._sagemaker_role = sagemaker_role
        self._model_key = model_key
        self._networks = networks
        failure = self._lambda("RecordFailure", functions["record_failure"]).next(
            sfn.Fail(self, "JobFailed", error="LabelingJobFailed", cause="see failure.json in the job's output folder")
        )
        self._catch_to = failure

        validate = self._lambda("ValidateJob", functions["validate_job"])
        select_sample = self._lambda("SelectSample", functions["select_sample"])
        human_labeling = self._human_batch("HumanLabeling", functions["publish_human_tasks"])
        consolidate = self._lambda("ConsolidateAnnotations", functions["consolidate_annotations"])
        compute_threshold = self._lambda("ComputeThreshold", functions["compute_threshold"])
        apply_threshold = self._lambda("ApplyThreshold", functions["apply_threshold"])
        select_ambiguous = self._lambda("SelectAmbiguous", functions["select_ambiguous"])
        write_output = self._lambda("WriteOutput", functions["write_output"])
        select_audit = self._lambda("SelectAudit", functions["select_audit"])
        audit_labeling = self._human_batch("AuditLabeling", functions["publish_human_tasks"])
        select_audit.next(audit_labeling).next(
            self._lambda("ConsolidateAudit", functions["consolidate_audit"])).next(write_output)
        audit = sfn.Choice(self, "Audit?", comment="job.json's AuditSampleSize: humans check a random sample of "
                                                   "the machine labels once the loop has ended (logic/audit.py)")
        audit.when(sfn.Condition.and_(
            sfn.Condition.is_present("$.job.settings.AuditSampleSize"),
            sfn.Condition.number_greater_than("$.job.settings.AuditSampleSize", 0),
            sfn.Condition.number_greater_than("$.counts.machineLabeled", 0),
            # Once only: a job whose audit is selected goes on from its own states.
            sfn.Condition.or_(sfn.Condition.is_not_present("$.auditIteration"),
                              sfn.Condition.is_null("$.auditIteration")),
        ), select_audit)
        audit.otherwise(write_output)

        task_type = sfn.Choice(self, "TaskType")
        for name, image in images.items():
            task_type.when(
                sfn.Condition.string_equals("$.job.settings.TaskType", name),
                self._sagemaker_branch(name, image).next(compute_threshold),
            )
        task_type.otherwise(sfn.Fail(
            self, "TaskTypeNotDeployed", error="TaskTypeNotDeployed",
            cause="this deployment has no model container for the job's task type",
        ))

        job_complete = sfn.Succeed(self, "JobComplete")
        write_output.next(job_complete)
        stopped = sfn.Pass(
            self, "StoppingConditionMet",
            comment="A stopping condition in job.json ended the job ($.stopReason names it); "
                    "WriteOutput writes the items left unlabeled without a label",
        ).next(audit)
        more_to_label = sfn.Choice(self, "MoreToLabel?")
        more_to_label.when(sfn.Condition.number_greater_than("$.counts.inHumanBatch", 0), human_labeling)
        # A stop always comes with an empty batch, so the order of the two rules does not matter.
        more_to_label.when(sfn.Condition.and_(
            sfn.Condition.is_present("$.stopReason"), sfn.Condition.is_not_null("$.stopReason"),
        ), stopped)
        more_to_label.otherwise(audit)

        train_model = sfn.Choice(self, "TrainModel?")
        train_model.when(sfn.Condition.boolean_equals("$.trainModel", True), task_type)
        train_model.otherwise(select_ambiguous)

        compute_threshold.next(apply_threshold).next(select_ambiguous).next(more_to_label)
        validate.next(select_sample).next(human_labeling).next(consolidate).next(train_model)

        resume_at = sfn.Choice(self, "ResumeAt", output_path="$.state")
        targets = {
            "ValidateJob": validate, "SelectSample": select_sample, "HumanLabeling": human_labeling,
            "TrainModel?": train_model, "ApplyThreshold": apply_threshold, "SelectAmbiguous": select_ambiguous,
            "MoreToLabel?": more_to_label, "AuditLabeling": audit_labeling, "WriteOutput": write_output,
            "JobComplete": job_complete,
        }
        for name in RESUME_STATES:
            resume_at.when(sfn.Condition.string_equals("$.resumeAt", name), targets[name])
        resume_at.otherwise(sfn.Fail(self, "NotResumable", error="NotResumable",
                                     cause="ResumeJob named a state this workflow cannot resume at"))
        definition = sfn.Choice(self, "StartOrResume?")
        definition.when(sfn.Condition.is_present("$.resume"),
                        self._lambda("ResumeJob", functions["resume_job"]).next(resume_at))
        definition.otherwise(validate)

        log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.THREE_MONTHS)
        self.state_machine = sfn.StateMachine(
            self, "LabelingJob",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=JOB_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL),
        )

    def _human_batch(self, state_name: str, fn: lambda_.IFunction) -> sfn.TaskStateBase:
        """PublishHumanTasks, then the wait for the batch's task token (handlers/publish_human_tasks.py)."""
        task = self._catching(tasks.LambdaInvoke(
            self, state_name, lambda_function=fn,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object({
                "state": sfn.JsonPath.object_at("$"), "taskToken": sfn.JsonPath.task_token,
            }),
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.at(TASK_AVAILABILITY_PATH),
        ))
        task.add_retry(errors=LAMBDA_CRASHES, interval=Duration.seconds(2), backoff_rate=2, max_attempts=3,
                       jitter_strategy=sfn.JitterType.FULL)
        return task

    def _catching(self, task: sfn.TaskStateBase) -> sfn.TaskStateBase:
        task.add_catch(self._catch_to, errors=["States.ALL"], result_path="$.error")
        return task

    def _lambda(self, state_name: str, fn: lambda_.IFunction) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self, state_name, lambda_function=fn, payload_response_only=True, retry_on_service_exceptions=True,
        )
        task.add_retry(errors=LAMBDA_CRASHES, interval=Duration.seconds(2), backoff_rate=2, max_attempts=3,
                       jitter_strategy=sfn.JitterType.FULL)
        if state_name != "RecordFailure":
            self._catching(task)
        return task

    def _sagemaker_branch(self, name: str, image: ModelImage) -> sfn.Chain:
        """InitialModel?, then Train, CreateModel, TransformValidation, TransformPool, each retried as
        labeling/logic/sagemaker_failure.py decides (its docstring says why):
          * a SageMaker API error of the create call or of polling (throttling, internal errors,
            service unavailable: SageMaker.AmazonSageMakerException) by a Retry with backoff;
          * a job that ended Failed with a CapacityError or an InternalServerError by a Catch of
            States.TaskFailed into `CapacityOrInternal?-<state>`, which waits, names the job anew
            (job names are SageMaker's for good) and runs it again; any other failed job (the
            container's error) and a ResourceLimitExceeded go to RecordFailure at once.
        """
        table, role, key, network = TASK_TYPES[name], self._sagemaker_role, self._model_key, self._networks[name]

        def job_name(path: str, job: str) -> str:
            return sfn.JsonPath.format("{}{}", sfn.JsonPath.string_at(path),
                                       sfn.JsonPath.string_at(f"$.sagemaker.retries.{job}.suffix"))

        def retried(task: sfn.TaskStateBase, job: str | None = None) -> sfn.TaskStateBase:
            task.add_retry(
                errors=sagemaker_failure.RETRIED_API_ERRORS,
                interval=Duration.seconds(sagemaker_failure.API_RETRY_INTERVAL_SECONDS),
                backoff_rate=sagemaker_failure.API_RETRY_BACKOFF_RATE,
                max_attempts=sagemaker_failure.API_RETRY_MAX_ATTEMPTS,
                max_delay=Duration.seconds(sagemaker_failure.API_RETRY_MAX_DELAY_SECONDS),
                jitter_strategy=sfn.JitterType.FULL,
            )
            if job:
                retry = f"$.sagemaker.retries.{job}"
                state = task.node.id
                again = sfn.Wait(self, f"WaitToRetry-{state}", time=sfn.WaitTime.seconds_path(f"{retry}.waitSeconds"))
                again.next(sfn.Pass(
                    self, f"NameRetry-{state}", result_path=retry,
                    comment="the failed job keeps its name: the next one is named <name>-c<attempt>",
                    parameters={
                        "attempt": sfn.JsonPath.math_add(sfn.JsonPath.number_at(f"{retry}.attempt"), 1),
                        "suffix": sfn.JsonPath.format(
                            "-c{}", sfn.JsonPath.math_add(sfn.JsonPath.number_at(f"{retry}.attempt"), 1)),
                        "waitSeconds": sfn.JsonPath.math_add(sfn.JsonPath.number_at(f"{retry}.waitSeconds"),
                                                             sfn.JsonPath.number_at(f"{retry}.waitSeconds")),
                    },
                )).next(task)
                decide = sfn.Choice(self, f"CapacityOrInternal?-{state}")
                decide.when(sfn.Condition.and_(
                    sfn.Condition.number_less_than(f"{retry}.attempt", sagemaker_failure.JOB_RETRY_MAX_ATTEMPTS),
                    sfn.Condition.or_(*[sfn.Condition.string_matches("$.error.Cause", pattern)
                                        for pattern in sagemaker_failure.RETRIED_FAILURE_PATTERNS]),
                ), again)
                decide.otherwise(self._catch_to)
                task.add_catch(decide, errors=["States.TaskFailed"], result_path="$.error")
            return self._catching(task)

        # Every instance pinned in labeling/task_types.py is EBS-only: SageMaker refuses a VolumeKmsKeyId
        # for an instance with local NVMe storage (c5d, p3dn, g5, ...), which it encrypts itself.
        train = retried(TrainingJobInVpc(
            self, f"Train-{name}",
            training_job_name=job_name("$.sagemaker.trainingJobName", "training"),
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=image.training, training_input_mode=tasks.InputMode.FILE),
            hyperparameters={"label_count": sfn.JsonPath.string_at("$.sagemaker.labelCount")},
            input_data_config=[tasks.Channel(
                channel_name="train", content_type="application/jsonlines",
                data_source=tasks.DataSource(s3_data_source=tasks.S3DataSource(
                    s3_location=JobBucketLocation("$.sagemaker.trainingDataUri"),
                    s3_data_type=tasks.S3DataType.S3_PREFIX)),
            )],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=JobBucketLocation("$.sagemaker.modelOutputUri"), encryption_key=key),
            resource_config=tasks.ResourceConfig(
                instance_count=1, instance_type=_instance(table.training_instance),
                volume_size=Size.gibibytes(30), volume_encryption_key=key),
            enable_network_isolation=network.isolated,
            vpc_config=network.vpc_config(),
            stopping_condition=tasks.StoppingCondition(max_runtime=Duration.hours(8)),
            role=role,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            result_selector={
                **_run_times("$.TrainingStartTime", "$.TrainingEndTime"),
                "modelArtifacts": sfn.JsonPath.string_at("$.ModelArtifacts.S3ModelArtifacts"),
            },
            result_path="$.training",
        ), "training")
        create_model = retried(ModelInVpc(
            self, f"CreateModel-{name}",
            model_name=sfn.JsonPath.string_at("$.sagemaker.modelName"),
            primary_container=tasks.ContainerDefinition(
                image=image.inference,
                model_s3_location=JobBucketLocation("$.training.modelArtifacts")),
            role=role,
            enable_network_isolation=network.isolated,
            vpc_config=network.vpc_config(),
            # The model's ARN, for report.json's finalActiveLearningModel (models/state.py, latest_model).
            result_selector={"modelArn": sfn.JsonPath.string_at("$.ModelArn")},
            result_path="$.sagemaker.createdModel",
        ))
        transforms = []
        for part, step in (("Validation", "validation"), ("Pool", "pool")):
            transforms.append(retried(TransformJobWithTimeout(
                self, f"Transform{part}-{name}",
                transform_job_name=job_name(f"$.sagemaker.{step}TransformJobName", step),
                model_name=sfn.JsonPath.string_at("$.sagemaker.modelName"),
                transform_input=tasks.TransformInput(
                    transform_data_source=tasks.TransformDataSource(s3_data_source=tasks.TransformS3DataSource(
                        s3_uri=sfn.JsonPath.string_at(f"$.sagemaker.{step}DataUri"),
                        s3_data_type=tasks.S3DataType.S3_PREFIX)),
                    content_type="application/jsonlines", split_type=tasks.SplitType.LINE),
                transform_output=tasks.TransformOutput(
                    s3_output_path=sfn.JsonPath.string_at(f"$.sagemaker.{step}OutputUri"),
                    accept="application/jsonlines", assemble_with=tasks.AssembleWith.LINE, encryption_key=key),
                transform_resources=tasks.TransformResources(
                    instance_count=1, instance_type=_instance(table.inference_instance),
                    volume_encryption_key=key),
                instance_count_path=f"$.sagemaker.{step}InstanceCount",
                batch_strategy=tasks.BatchStrategy.MULTI_RECORD,
                max_payload=Size.mebibytes(_max_payload_mb(table)),
                role=role,
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                result_selector=_run_times("$.TransformStartTime", "$.TransformEndTime"),
                result_path=f"$.{step}Transform",
            ), step))
        transform_validation, transform_pool = transforms
        train.next(create_model).next(transform_validation).next(transform_pool)
        initial_model = sfn.Choice(
            self, f"InitialModel?-{name}",
            comment="job.json's InitialActiveLearningModelArn: the first model iteration transforms with that "
                    "model ($.sagemaker.modelName), which exists already, and trains none",
        )
        initial_model.when(sfn.Condition.and_(
            sfn.Condition.is_present("$.sagemaker.initialModel"),
            sfn.Condition.boolean_equals("$.sagemaker.initialModel", True),
        ), transform_validation)
        initial_model.otherwise(train)
        return sfn.Chain.custom(initial_model, [transform_pool], transform_pool)
