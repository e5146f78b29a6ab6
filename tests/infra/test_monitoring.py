"""Console monitoring in the synthesized stack (infra/constructs/monitoring.py): the dashboard graphs
the job metrics the handlers emit and the services' own, each alarm watches its metric and tells
the Notifications topic, job ends reach the topic through the status-change rule, and the
batch-age schedule runs a function that only reads the task table."""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn

from infra.config import StackSettingsError, parse_settings, stack_settings
from infra.constructs.functions import LabelingFunctions
from infra.constructs.monitoring import (
    ENDED_STATUSES,
    SAGEMAKER_INTEGRATIONS,
    Monitoring,
)
from labeling import observability as obs
from tests.infra.template_values import text as _text

BATCH_AGE_HANDLER = "labeling.handlers.human_batch_age.handler"


def _resources(template, resource_type):
    return {lid: r["Properties"] for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def _one(template, resource_type, prefix=""):
    (item,) = [(lid, r) for lid, r in _resources(template, resource_type).items() if lid.startswith(prefix)]
    return item




def _our_functions(template) -> dict[str, str]:
    """logical id -> handler of the stack's own functions (not CDK's helpers)."""
    return {lid: f["Handler"] for lid, f in _resources(template, "AWS::Lambda::Function").items()
            if f.get("Handler", "").startswith("labeling.")}


@pytest.fixture(scope="module")
def machine(template) -> str:
    (lid,) = _resources(template, "AWS::StepFunctions::StateMachine")
    return lid


@pytest.fixture(scope="module")
def topic(template) -> str:
    lid, _ = _one(template, "AWS::SNS::Topic", "MonitoringNotifications")
    return lid


@pytest.fixture(scope="module")
def alarms(template) -> dict[str, dict]:
    return _resources(template, "AWS::CloudWatch::Alarm")


@pytest.fixture(scope="module")
def dashboard(template) -> dict:
    _, props = _one(template, "AWS::CloudWatch::Dashboard")
    return json.loads(_text(props["DashboardBody"]))


def _alarm(alarms, prefix) -> dict:
    (alarm,) = [a for lid, a in alarms.items() if lid.startswith(prefix)]
    return alarm


def _dimensions(alarm) -> dict[str, str]:
    return {d["Name"]: _text(d["Value"]) for d in alarm.get("Dimensions", [])}


# --- alarms --------------------------------------------------------------------------------------

def test_failed_and_timed_out_executions_of_the_state_machine_alarm_the_topic(alarms, machine, topic):
    for prefix, metric in (("MonitoringExecutionsFailed", "ExecutionsFailed"),
                           ("MonitoringExecutionsTimedOut", "ExecutionsTimedOut")):
        alarm = _alarm(alarms, prefix)
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/States", metric, "Sum")
        assert _dimensions(alarm) == {"StateMachineArn": f"<{machine}>"}
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
        assert alarm["AlarmActions"] == [{"Ref": topic}]
        assert alarm["TreatMissingData"] == "notBreaching"  # no failures: no data points


def test_an_error_of_any_function_raises_one_composite_alarm_to_the_topic(template, alarms, topic):
    functions = _our_functions(template)
    assert BATCH_AGE_HANDLER in functions.values()  # the monitoring's own function is watched too
    errors = {_dimensions(a)["FunctionName"]: (lid, a) for lid, a in alarms.items()
              if a.get("MetricName") == "Errors"}
    assert set(errors) == {f"<{lid}>" for lid in functions}
    for lid, alarm in errors.values():
        assert (alarm["Namespace"], alarm["Statistic"], alarm["Threshold"]) == ("AWS/Lambda", "Sum", 1)
        assert "AlarmActions" not in alarm, lid  # told once, through the composite alarm
    _, composite = _one(template, "AWS::CloudWatch::CompositeAlarm")
    rule = _text(composite["AlarmRule"])
    assert set(re.findall(r"ALARM\(\"<(\w+)\.Arn>\"\)", rule)) == {lid for lid, _ in errors.values()}
    assert " OR " in rule and " AND " not in rule
    assert composite["AlarmActions"] == [{"Ref": topic}]


def test_an_upload_in_the_dead_letter_queue_alarms_the_topic(template, alarms, topic):
    alarm = _alarm(alarms, "MonitoringUploadDeadLetters")
    dead_letters, _ = _one(template, "AWS::SQS::Queue", "TriggerUndelivered")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert _dimensions(alarm) == {"QueueName": f"<{dead_letters}.QueueName>"}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["AlarmActions"] == [{"Ref": topic}] and alarm["TreatMissingData"] == "notBreaching"


def test_a_human_batch_older_than_the_setting_alarms_the_topic(alarms, topic):
    alarm = _alarm(alarms, "MonitoringHumanBatchTooOld")
    # The stack-wide series that HumanBatchAge emits beside each job's: its Maximum is the oldest batch.
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        obs.METRICS_NAMESPACE, obs.HUMAN_BATCH_AGE, "Maximum")
    assert _dimensions(alarm) == {"service": obs.SERVICE_NAME}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 24 * 3600)  # the default
    assert alarm["AlarmActions"] == [{"Ref": topic}] and alarm["TreatMissingData"] == "notBreaching"


# --- the topic and what publishes to it ----------------------------------------------------------

def test_job_ends_reach_the_topic_with_a_readable_message(template, machine, topic):
    (rule,) = [r for r in _resources(template, "AWS::Events::Rule").values()
               if any(t["Arn"] == {"Ref": topic} for t in r.get("Targets", []))]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert sorted(pattern["detail"]["status"]) == sorted(ENDED_STATUSES) == [
        "ABORTED", "FAILED", "SUCCEEDED", "TIMED_OUT"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": machine}]
    (target,) = rule["Targets"]
    transformer = target["InputTransformer"]
    paths = {path: name for name, path in transformer["InputPathsMap"].items()}
    assert {"$.detail.name", "$.detail.status", "$.detail.executionArn"} <= set(paths)
    message = json.loads(_text(transformer["InputTemplate"]).replace("<", "{").replace(">", "}"))
    assert f"the execution {{{paths['$.detail.name']}}} of a labeling job ended: {{{paths['$.detail.status']}}}" \
        in message
    bucket, _ = _one(template, "AWS::S3::Bucket", "StorageJobs")
    assert f"s3://{{{bucket}}}/jobs/JOB/output/" in message and "report.json" in message
    assert f"#/v2/executions/details/{{{paths['$.detail.executionArn']}}}" in message


def test_the_topic_is_encrypted_with_a_rotated_key_the_publishing_services_may_use_and_tls_only(template, topic):
    props = template["Resources"][topic]["Properties"]
    key = props["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key_props = template["Resources"][key]["Properties"]
    assert key_props["EnableKeyRotation"] is True
    services = {s["Principal"].get("Service"): s["Action"] for s in key_props["KeyPolicy"]["Statement"]}
    for service in ("events.amazonaws.com", "cloudwatch.amazonaws.com"):
        assert services[service] == ["kms:Decrypt", "kms:GenerateDataKey*"], service
    (policy,) = [p for p in _resources(template, "AWS::SNS::TopicPolicy").values() if p["Topics"] == [{"Ref": topic}]]
    statements = policy["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and deny["Principal"] == "*"
    publishers = {s["Principal"]["Service"]: s for s in statements if s["Effect"] == "Allow"}
    assert set(publishers) == {"events.amazonaws.com", "cloudwatch.amazonaws.com"}
    alarms_only = publishers["cloudwatch.amazonaws.com"]["Condition"]
    assert _text(alarms_only["ArnLike"]["aws:SourceArn"]).endswith(":<AWS::AccountId>:alarm:*")
    assert all(s["Action"] == "sns:Publish" for s in publishers.values())


def test_the_outputs_give_the_dashboards_console_url_and_the_topic_to_subscribe_to(template, topic):
    outputs = template["Outputs"]
    dashboard, _ = _one(template, "AWS::CloudWatch::Dashboard")
    assert re.fullmatch(rf"https://[\w-]+\.console\.aws\.amazon\.com/cloudwatch/home\?region=[\w-]+"
                        rf"#dashboards/dashboard/<{dashboard}>", _text(outputs["DashboardUrl"]["Value"]))
    assert outputs["NotificationsTopic"]["Value"] == {"Ref": topic}


# --- the batch-age schedule ----------------------------------------------------------------------

def test_the_schedule_runs_the_batch_age_function_which_only_reads_the_task_table(template):
    functions = _our_functions(template)
    (batch_age,) = [lid for lid, handler in functions.items() if handler == BATCH_AGE_HANDLER]
    _, schedule = _one(template, "AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == "rate(10 minutes)" and schedule["State"] == "ENABLED"
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [batch_age, "Arn"]}
    role = template["Resources"][batch_age]["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = [p for p in _resources(template, "AWS::IAM::Policy").values() if {"Ref": role} in p["Roles"]]
    table, _ = _one(template, "AWS::DynamoDB::Table")
    actions = set()
    for statement in policy["PolicyDocument"]["Statement"]:
        statement_actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        actions |= set(statement_actions)
        if any(a.startswith("dynamodb:") for a in statement_actions):
            resources = [_text(r) for r in statement["Resource"]]
            assert resources == [f"<{table}.Arn>", f"<{table}.Arn>/index/*"]
    dynamodb_actions = {a for a in actions if a.startswith("dynamodb:")}
    assert "dynamodb:Query" in dynamodb_actions and "dynamodb:GetItem" in dynamodb_actions
    assert not any(re.search(r"Put|Update|Delete|Write", a) for a in dynamodb_actions)
    assert not any(a.startswith(("s3:", "states:", "sns:")) for a in actions)


# --- the dashboard -------------------------------------------------------------------------------

def _widgets(dashboard, kind="metric") -> dict[str, dict]:
    return {w["properties"].get("title"): w["properties"] for w in dashboard["widgets"] if w["type"] == kind}


def _searched(properties) -> set[str]:
    return {name for row in properties["metrics"] for part in row if isinstance(part, dict)
            for name in re.findall(r"MetricName=\\?\"(\w+)\\?\"", part.get("expression", ""))
            if f"{{{obs.METRICS_NAMESPACE},{obs.JOB_DIMENSION},{obs.SERVICE_DIMENSION}}}" in part["expression"]}


def test_the_dashboard_graphs_the_job_metrics_per_job_by_their_labeling_job_name(dashboard):
    searched = set().union(*(_searched(p) for p in _widgets(dashboard).values()))
    assert searched == {
        obs.HUMAN_ANNOTATED, obs.AUTO_ANNOTATED, obs.LABELING_FAILED, obs.THRESHOLD, obs.POOL_SIZE,
        obs.HUMAN_BATCH_AGE, *(name for pair in obs.ESTIMATES.values() for name in pair)}
    (accuracy,) = [p for title, p in _widgets(dashboard).items() if title.startswith("Estimated accuracy")]
    assert _searched(accuracy) == {"EstimatedAccuracy", "EstimatedAccuracyLowerBound", "EstimatedMeanIoU",
                                   "EstimatedMeanIoULowerBound"}
    ended = _widgets(dashboard)["Jobs ended"]["metrics"]
    assert {row[1] for row in ended} == {obs.JOBS_SUCCEEDED, obs.JOBS_FAILED, obs.JOBS_STOPPED}
    assert all(row[:1] == [obs.METRICS_NAMESPACE] and row[2:4] == ["service", obs.SERVICE_NAME] for row in ended)


def test_the_dashboard_graphs_executions_functions_sagemaker_and_dead_letters(template, dashboard, machine):
    widgets = _widgets(dashboard)
    executions = widgets["Executions"]["metrics"]
    assert [row[1] for row in executions] == ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed",
                                              "ExecutionsAborted", "ExecutionsTimedOut"]
    assert all(row[0] == "AWS/States" and row[2:4] == ["StateMachineArn", f"<{machine}>"] for row in executions)
    functions = {f"<{lid}>" for lid in _our_functions(template)}
    for title, metric in (("Lambda errors per function", "Errors"),
                          ("Lambda duration per function (maximum, ms)", "Duration")):
        rows = widgets[title]["metrics"]
        assert {row[3] for row in rows} == functions and {row[1] for row in rows} == {metric}, title
    (sagemaker,) = [p for title, p in widgets.items() if title.startswith("SageMaker job failures")]
    assert {(row[1], row[3].rsplit(":", 1)[-1]) for row in sagemaker["metrics"]} == {
        ("ServiceIntegrationsFailed", integration.rsplit(":", 1)[-1]) for integration in SAGEMAKER_INTEGRATIONS}
    assert all(re.fullmatch(r"arn:(aws|<AWS::Partition>):states:::sagemaker:[\w.]+", row[3])
               for row in sagemaker["metrics"])
    dead_letters, _ = _one(template, "AWS::SQS::Queue", "TriggerUndelivered")
    (queue_row,) = widgets["Upload dead letters (uploads that started no job)"]["metrics"]
    assert queue_row[:4] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                             f"<{dead_letters}.QueueName>"]


def test_the_dashboard_shows_the_state_of_every_alarm(template, dashboard):
    (status,) = [w["properties"] for w in dashboard["widgets"] if w["type"] == "alarm"]
    shown = {re.fullmatch(r"<(\w+)\.Arn>", arn)[1] for arn in status["alarms"]}
    notifying = {lid for kind in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
                 for lid, a in _resources(template, kind).items() if a.get("AlarmActions")}
    assert shown == notifying and len(shown) == 5


# --- settings (cdk.json context) -----------------------------------------------------------------

def _monitoring_template(context: dict) -> assertions.Template:
    """The Monitoring construct alone, in a stack of the few resources it watches."""
    app = cdk.App(context=context)
    stack = cdk.Stack(app, "Test", env=cdk.Environment(region="us-east-1"))
    functions = LabelingFunctions(stack, "Functions", environment={})
    machine = sfn.StateMachine(stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(
        sfn.Pass(stack, "Pass")))
    table = dynamodb.Table(stack, "Tasks", partition_key=dynamodb.Attribute(
        name="pk", type=dynamodb.AttributeType.STRING))
    Monitoring(stack, "Monitoring", functions=functions, state_machine=machine, tasks_table=table,
               dead_letters=sqs.Queue(stack, "DeadLetters"), bucket=s3.Bucket(stack, "Jobs"),
               settings=stack_settings(stack))
    return assertions.Template.from_stack(stack)


def test_a_notification_email_is_subscribed_to_the_topic_and_the_batch_age_threshold_is_a_setting():
    template = _monitoring_template({"notificationEmail": "ops@example.com", "humanBatchAlarmHours": "48"})
    template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "email", "Endpoint": "ops@example.com",
        "TopicArn": {"Ref": assertions.Match.string_like_regexp("MonitoringNotifications")}})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": obs.HUMAN_BATCH_AGE, "Threshold": 48 * 3600})


def test_without_an_email_nothing_is_subscribed():
    _monitoring_template({}).resource_count_is("AWS::SNS::Subscription", 0)


@pytest.mark.parametrize("context, named", [
    ({"notificationEmail": "ops at example.com"}, "notificationEmail"),
    ({"humanBatchAlarmHours": 0}, "humanBatchAlarmHours"),
    ({"humanBatchAlarmHours": "a day"}, "humanBatchAlarmHours"),
    ({"humanBatchAlarmHours": 24 * 31}, "humanBatchAlarmHours"),
])
def test_a_bad_setting_is_refused_by_its_name_with_an_example(context, named):
    with pytest.raises(StackSettingsError) as refused:
        parse_settings(context)
    message = str(refused.value)
    assert message.startswith(f"cdk.json context setting {named}: ") and "for example" in message
    assert "(or leave it out)" in message


def test_no_setting_gives_the_defaults():
    settings = parse_settings({})
    assert settings.notification_email is None and settings.human_batch_alarm_hours == 24
