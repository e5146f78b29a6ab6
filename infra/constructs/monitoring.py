"""Console monitoring: a CloudWatch dashboard, alarms, and an SNS topic for job ends and alarms.

  Step Functions "Execution Status Change" (SUCCEEDED, FAILED, ABORTED, TIMED_OUT) of the
  state machine -> EventBridge rule (a readable message) -> Notifications topic -> email
  alarms: executions failed / timed out, Lambda errors (any function), upload dead letters,
          a human batch older than humanBatchAlarmHours                    -> Notifications topic
  EventBridge Scheduler, every BATCH_AGE_RATE -> HumanBatchAge (reads the task table) -> the
          HumanBatchAgeSeconds metric

Metrics are the ones the handlers emit (labeling/observability.py names them and says which
carry the job's LabelingJobName dimension), AWS/States' of the state machine and of its
SageMaker steps, AWS/Lambda's of every function, AWS/SQS's of the dead-letter queue.

Settings (infra/config.py): notificationEmail, subscribed to the topic; humanBatchAlarmHours, the
age past which a human batch that still waits for its workers raises the alarm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StackSettings
from infra.constructs.functions import LabelingFunctions
from labeling import observability as obs

# How often HumanBatchAge runs; the alarm reads the Maximum over BATCH_AGE_ALARM_PERIOD, which
# holds several of its points, so one late or lost run does not flip the alarm.
BATCH_AGE_RATE = Duration.minutes(10)
BATCH_AGE_ALARM_PERIOD = Duration.minutes(30)
# The period of the other alarms and of the dashboard's graphs.
PERIOD = Duration.minutes(5)
# Step Functions' status-change events that end an execution, and so a job (or a resume of one).
ENDED_STATUSES = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
# The SageMaker steps of the state machine (infra/constructs/workflow.py), by their service
# integration: AWS/States counts each one's failures (ServiceIntegrationsFailed), every failed
# SageMaker job included, also one retried for capacity.
SAGEMAKER_INTEGRATIONS = ("createTrainingJob.sync", "createModel", "createTransformJob.sync")

def _job_metric(name: str, statistic: str) -> cloudwatch.Metric:
    """A job metric summed or maxed over every job: the handlers' stack-wide series (service only)."""
    return cloudwatch.Metric(namespace=obs.METRICS_NAMESPACE, metric_name=name, statistic=statistic, period=PERIOD,
                             dimensions_map={obs.SERVICE_DIMENSION: obs.SERVICE_NAME})


def per_job(name: str, statistic: str, label: str) -> cloudwatch.MathExpression:
    """One line per job: a SEARCH over the LabelingJobName dimension (new jobs show up by themselves)."""
    schema = f"{{{obs.METRICS_NAMESPACE},{obs.JOB_DIMENSION},{obs.SERVICE_DIMENSION}}}"
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{schema} MetricName=\"{name}\"', '{statistic}', {int(PERIOD.to_seconds())})",
        label=label, period=PERIOD)


class Monitoring(Construct):
    """The dashboard, the alarms and the notifications topic; and HumanBatchAge, which they read."""

    def __init__(self, scope: Construct, construct_id: str, *, functions: LabelingFunctions,
                 state_machine: sfn.StateMachine, tasks_table: dynamodb.ITable, dead_letters: sqs.IQueue,
                 bucket: s3.IBucket, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.batch_age = functions.function(
            "HumanBatchAge", "labeling.handlers.human_batch_age.handler", timeout=Duration.minutes(1), memory_mb=256)
        tasks_table.grant_read_data(self.batch_age)  # reads only: no worker's task changes
        self.schedule = scheduler.Schedule(
            self, "HumanBatchAgeSchedule", schedule=scheduler.ScheduleExpression.rate(BATCH_AGE_RATE),
            description="Emit the age of each human batch that waits for workers (HumanBatchAgeSeconds)",
            # The next run comes soon: a run that could not start is not worth retrying for long.
            target=scheduler_targets.LambdaInvoke(self.batch_age, retry_attempts=2,
                                                  max_event_age=BATCH_AGE_RATE),
        )

        self.topic = self._topic(stack)
        if settings.notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.notification_email))
        self.job_ended = self._job_ended_rule(state_machine, bucket)

        self.alarms = self._alarms(functions.all, state_machine, dead_letters, settings)
        self.dashboard = self._dashboard(functions.all, state_machine, dead_letters, settings)
        self.dashboard_url = (f"https://{stack.region}.console.aws.amazon.com/cloudwatch/home?region={stack.region}"
                              f"#dashboards/dashboard/{self.dashboard.dashboard_name}")

    # ------------------------------------------------------------- topic ----
    def _topic(self, stack: Stack) -> sns.Topic:
        # A key of the topic's own, not AWS's alias/aws/sns: EventBridge and CloudWatch alarms can
        # publish to an encrypted topic only when its key's policy lets them use the key, and an
        # AWS managed key's policy cannot be changed. Kept apart from the job data's key, so the
        # services' grants below reach the notifications only.
        key = kms.Key(self, "NotificationsKey", enable_key_rotation=True,
                      description="autolabel: the Notifications topic (job ends and alarms)")
        for service in ("events.amazonaws.com", "cloudwatch.amazonaws.com"):
            key.add_to_resource_policy(iam.PolicyStatement(
                principals=[iam.ServicePrincipal(service)], actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"]))  # a key policy's "*" is this key
        topic = sns.Topic(self, "Notifications", display_name="autolabel", master_key=key, enforce_ssl=True)
        # CloudWatch alarms of this account only (EventBridge's grant comes with the rule's target).
        topic.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")], actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": stack.account},
                        "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:"
                                                     f"{stack.account}:alarm:*"}}))
        return topic

    def _job_ended_rule(self, state_machine: sfn.StateMachine, bucket: s3.IBucket) -> events.Rule:
        name, status = events.EventField.from_path("$.detail.name"), events.EventField.from_path("$.detail.status")
        execution, region = events.EventField.from_path("$.detail.executionArn"), Aws.REGION
        # The execution is named after the job (handlers/start_job.py); a resume's is <job>-resume-<n>.
        message = events.RuleTargetInput.from_text(
            f"autolabel: the execution {name} of a labeling job ended: {status}. "
            f"The job's outputs are in s3://{bucket.bucket_name}/jobs/JOB/output/ (JOB: the execution's name "
            "without a -resume-N suffix): report.json says how the job ended (Completed, Stopped with its "
            "stopReason, or Failed), failure.json why it failed. "
            f"Execution: https://{region}.console.aws.amazon.com/states/home?region={region}"
            f"#/v2/executions/details/{execution}")
        return events.Rule(
            self, "JobEnded", description="A labeling job's execution ended: tell the Notifications topic",
            event_pattern=events.EventPattern(
                source=["aws.states"], detail_type=["Step Functions Execution Status Change"],
                detail={"status": list(ENDED_STATUSES), "stateMachineArn": [state_machine.state_machine_arn]}),
            targets=[targets.SnsTopic(self.topic, message=message)],
        )

    # ------------------------------------------------------------ alarms ----
    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, *, threshold: float, description: str,
               comparison: cloudwatch.ComparisonOperator = (
                   cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD),
               notify: bool = True) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self, construct_id, metric=metric, threshold=threshold, evaluation_periods=1,
            comparison_operator=comparison, alarm_description=description,
            # No data is no failure: a metric that counts failures has no points while there are none.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        if notify:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        return alarm

    def _alarms(self, functions: Sequence[lambda_.Function], state_machine: sfn.StateMachine,
                dead_letters: sqs.IQueue, settings: StackSettings) -> list[cloudwatch.AlarmBase]:
        self.executions_failed = self._alarm(
            "ExecutionsFailed", state_machine.metric_failed(period=PERIOD, statistic="Sum"), threshold=1,
            description="A labeling job's execution failed: its failure.json (jobs/<job>/output/) says why")
        self.executions_timed_out = self._alarm(
            "ExecutionsTimedOut", state_machine.metric_timed_out(period=PERIOD, statistic="Sum"), threshold=1,
            description="A labeling job's execution ran past the state machine's time limit; resume the job")
        # One alarm per function (an alarm's metric math takes 10 metrics at most; the stack has more
        # functions), reported through one composite alarm: one message when functions start failing.
        self.function_errors = {
            fn.node.id: self._alarm(f"{fn.node.id}Errors", fn.metric_errors(period=PERIOD, statistic="Sum"),
                                    threshold=1, notify=False,
                                    description=f"The {fn.node.id} function raised an error or timed out")
            for fn in functions
        }
        self.lambda_errors = cloudwatch.CompositeAlarm(
            self, "LambdaErrors", alarm_rule=cloudwatch.AlarmRule.any_of(*self.function_errors.values()),
            alarm_description="A function of the stack raised an error or timed out: its log group "
                              "(/aws/lambda/...) has the traceback; the dashboard shows which function")
        self.lambda_errors.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        self.dead_letter_depth = self._alarm(
            "UploadDeadLetters",
            dead_letters.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            threshold=0, comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description="An uploaded manifest started no job: its event waits in the upload dead-letter queue; "
                        "fix the cause, then redrive the queue to the Uploads queue (infra/constructs/trigger.py)")
        hours = settings.human_batch_alarm_hours
        self.old_human_batch = self._alarm(
            "HumanBatchTooOld",
            cloudwatch.Metric(namespace=obs.METRICS_NAMESPACE, metric_name=obs.HUMAN_BATCH_AGE, statistic="Maximum",
                              period=BATCH_AGE_ALARM_PERIOD,
                              dimensions_map={obs.SERVICE_DIMENSION: obs.SERVICE_NAME}),
            threshold=hours * 3600, comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"A human batch has waited for its workers for more than {hours:g} hours "
                        "(cdk.json humanBatchAlarmHours); the dashboard's batch-age graph names the job")
        return [self.executions_failed, self.executions_timed_out, self.lambda_errors, self.dead_letter_depth,
                self.old_human_batch]

    # --------------------------------------------------------- dashboard ----
    def _dashboard(self, functions: Sequence[lambda_.Function], state_machine: sfn.StateMachine,
                   dead_letters: sqs.IQueue, settings: StackSettings) -> cloudwatch.Dashboard:
        def graph(title: str, metrics: Sequence[cloudwatch.IMetric], width: int = 8,
                  **options: Any) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics), width=width, height=6, **options)

        estimate_names = [name for pair in obs.ESTIMATES.values() for name in pair]
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(7))
        dashboard.add_widgets(cloudwatch.TextWidget(width=24, height=3, markdown=(
            "# autolabel\n"
            "Per-job graphs show one line per job (the `LabelingJobName` dimension, named as Ground Truth's "
            "labeling-job metrics): items labeled by humans and by the model, items the job did not label "
            "(invalid lines, and those left when it stopped or failed), and each iteration's estimate of the "
            "promise with its lower bound (one point per iteration). A job's outputs: "
            "`s3://<jobs bucket>/jobs/<job>/output/` (report.json, failure.json).")))
        dashboard.add_widgets(
            graph("Executions", [
                state_machine.metric_started(period=PERIOD, statistic="Sum", label="started"),
                state_machine.metric_succeeded(period=PERIOD, statistic="Sum", label="succeeded"),
                state_machine.metric_failed(period=PERIOD, statistic="Sum", label="failed"),
                state_machine.metric_aborted(period=PERIOD, statistic="Sum", label="aborted (stopped)"),
                state_machine.metric_timed_out(period=PERIOD, statistic="Sum", label="timed out"),
            ], width=12),
            graph("Jobs ended", [
                _job_metric(obs.JOBS_SUCCEEDED, "Sum").with_(label="succeeded"),
                _job_metric(obs.JOBS_STOPPED, "Sum").with_(label="stopped (a stopping condition or a stop)"),
                _job_metric(obs.JOBS_FAILED, "Sum").with_(label="failed"),
            ], width=12),
        )
        dashboard.add_widgets(
            graph("Items labeled by humans, per job", [per_job(obs.HUMAN_ANNOTATED, "Sum", "")]),
            graph("Items labeled by the model, per job", [per_job(obs.AUTO_ANNOTATED, "Sum", "")]),
            graph("Items not labeled (invalid, or left at the end), per job",
                  [per_job(obs.LABELING_FAILED, "Sum", "")]),
        )
        dashboard.add_widgets(
            graph("Estimated accuracy (mean IoU for boxes) and its lower bound, per job and iteration",
                  [per_job(name, "Maximum", "") for name in estimate_names],
                  left_y_axis=cloudwatch.YAxisProps(min=0, max=1), width=12),
            graph("Confidence threshold, per job and iteration", [per_job(obs.THRESHOLD, "Maximum", "")],
                  left_y_axis=cloudwatch.YAxisProps(min=0, max=1), width=6),
            graph("Items left to label after an iteration, per job", [per_job(obs.POOL_SIZE, "Minimum", "")], width=6),
        )
        dashboard.add_widgets(
            graph("Human batch age (seconds), per job", [per_job(obs.HUMAN_BATCH_AGE, "Maximum", "")], width=12,
                  left_annotations=[cloudwatch.HorizontalAnnotation(
                      value=settings.human_batch_alarm_hours * 3600, label="alarm (humanBatchAlarmHours)")]),
            graph("SageMaker job failures (SageMaker steps of the state machine)", [
                cloudwatch.Metric(namespace="AWS/States", metric_name="ServiceIntegrationsFailed", statistic="Sum",
                                  period=PERIOD, label=integration, dimensions_map={
                                      "ServiceIntegrationResourceArn": f"arn:{Aws.PARTITION}:states:::sagemaker:"
                                                                       f"{integration}"})
                for integration in SAGEMAKER_INTEGRATIONS
            ], width=12),
        )
        dashboard.add_widgets(
            graph("Lambda errors per function",
                  [fn.metric_errors(period=PERIOD, statistic="Sum", label=fn.node.id) for fn in functions], width=12),
            graph("Lambda duration per function (maximum, ms)",
                  [fn.metric_duration(period=PERIOD, statistic="Maximum", label=fn.node.id) for fn in functions],
                  width=12),
        )
        dashboard.add_widgets(
            graph("Upload dead letters (uploads that started no job)", [
                dead_letters.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum",
                                                                           label="messages")], width=12),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=12, height=6),
        )
        return dashboard
