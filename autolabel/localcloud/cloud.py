"""The local cloud: the synthesized stack, stood up in moto and run in this process.

From the CDK app's template it creates the buckets (with the EventBridge
notifications the stack's custom resource would set), the DynamoDB tables,
the queues, the EventBridge rules and the state machine (its definition
resolved to plain ASL), and registers every Lambda function of functions/
under its logical id with its environment. An upload then travels as in AWS:
S3 emits "Object Created" to EventBridge, the rule's pattern matches, and the
rule's target queue holds the event until the function that reads it (an event
source mapping, polled here as Lambda polls it) has handled it. A rule's Lambda
target is run too (moto's EventBridge cannot invoke Lambda, so such a rule
delivers to a local queue that this module drains into the target function).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from moto.core.config import DefaultConfig
from moto.server import ThreadedMotoServer

from autolabel.localcloud import engine
from autolabel.localcloud.asl import ACCOUNT, REGION, Resolver, state_machine_definition
from autolabel.localcloud.durable_s3 import DurableS3
from autolabel.localcloud.sagemaker import LocalSageMaker

BUNDLING_STACKS = "aws:cdk:bundling-stacks"  # CDK's context key: the stacks whose assets are bundled
MOTO_CONFIG: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
LOCAL_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "HF_HUB_OFFLINE": "1",
}
OUR_HANDLERS = "labeling."
# moto's SQS counts visibility timeouts in whole seconds. Locally a message that a function
# failed on is received again after its queue's timeout times this, and after 1 s at least:
# the Uploads queue's 180 s (infra/constructs/trigger.py) become 1 s.
LOCAL_VISIBILITY_SCALE = 1 / 180
# The execution statuses whose status-change event the stack's ExecutionStopped rule matches.
STOPPED_STATUSES = ("ABORTED", "TIMED_OUT")


@dataclass
class SynthesizedApp:
    template: dict[str, Any]
    images: dict[str, Path]  # "repository:tag" of each image asset -> its Dockerfile's staged folder
    outputs: dict[str, str] = field(default_factory=dict)  # stack output -> resolved value
    outdir: Path | None = None  # the cloud assembly (templates, assets, validation report)


def synthesize(outdir: Path) -> SynthesizedApp:
    """Synthesize the CDK app in-process (no CDK CLI, no Docker) and map its images to folders."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from infra.app import STACK_NAME, build_app

    # Assets are not bundled: the handlers run in this process with this venv's packages,
    # so the plotting layer is never unpacked here, and synth needs neither pip nor Docker.
    app, _ = build_app(str(outdir), context={BUNDLING_STACKS: []})
    assembly = app.synth()
    artifact = assembly.get_stack_by_name(STACK_NAME)
    template = artifact.template
    resolve = Resolver(template)
    images: dict[str, Path] = {}
    for manifest in Path(assembly.directory).glob("*.assets.json"):
        for asset in json.loads(manifest.read_text()).get("dockerImages", {}).values():
            # The build context is containers/ (infra/constructs/models.py); the entry points
            # sit beside the Dockerfile, in the task type's folder of the staged context.
            context = Path(assembly.directory) / asset["source"]["directory"]
            folder = (context / asset["source"].get("dockerFile", "Dockerfile")).parent
            for destination in asset["destinations"].values():
                images[resolve({"Fn::Sub": f"{destination['repositoryName']}:{destination['imageTag']}"})] = folder
    outputs = {name: str(resolve(o["Value"])) for name, o in template.get("Outputs", {}).items()}
    return SynthesizedApp(template, images, outputs, Path(assembly.directory))


@dataclass
class QueuePoller:
    """A queue that Lambda reads, as _deliver_events runs it.

    An event source mapping (event_source): up to batch_size messages an invocation, in SQS's
    event shape; deleted when the function succeeds, except those it names in batchItemFailures
    (when the mapping reports them); left on a failure, so they are received again after the
    visibility timeout, and after the queue's maxReceiveCount moved to its dead-letter queue
    (moto's SQS applies the redrive policy when it receives). Otherwise the local delivery queue
    of a rule's Lambda targets: each event invoked as EventBridge invokes (asynchronously), and
    deleted whatever the outcome, as Lambda drops an event whose retries failed.
    """

    queue_url: str
    queue_arn: str
    functions: list[str]
    event_source: bool = False
    batch_size: int = 10
    report_item_failures: bool = False


def local_visibility_timeout(seconds: int | str) -> int:
    return max(1, round(int(seconds) * LOCAL_VISIBILITY_SCALE))


class LocalCloud:
    def __init__(self, app: SynthesizedApp, workdir: Path, *, durable: bool = False):
        """durable: keep S3 in `workdir/s3` (durable_s3.py), and start from what is there."""
        self.app = app
        self.workdir = workdir
        self.durable_s3 = DurableS3(workdir / "s3") if durable else None
        self.restored_objects = 0
        self.resolve = Resolver(app.template)
        self.function_logs = engine.FunctionLogs(workdir / "logs" / "lambda.log")
        self.registry = engine.LambdaRegistry(self.function_logs)
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._stop = threading.Event()
        self._deliveries: list[QueuePoller] = []  # the queues that Lambda reads (see _create_rules)
        self._patches: engine.Patches = ()  # moto's internals this cloud patched (engine.py); undone on stop()
        self.state_machine_arn = ""
        self.sagemaker: LocalSageMaker | None = None

    # --------------------------------------------------------- lifecycle ----
    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._saved_env = dict(os.environ)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            os.environ.pop(key, None)
        os.environ.update(LOCAL_ENVIRONMENT)
        self._mock.start()
        self.function_logs.install()
        self._patches = (*engine.install_lambda_dispatcher(self.registry), *engine.install_sagemaker_integration(),
                         *engine.install_fast_time(), *engine.install_atomic_dynamodb())
        self._create_resources()
        if self.durable_s3:
            self.restored_objects = self.durable_s3.restore()
            self._patches += self.durable_s3.install()
        self.sagemaker = LocalSageMaker(self.app.images, self.workdir, {
            "AUTOLABEL_EMBEDDING_CACHE": str(self.workdir / "embedding-cache"),
            **self._s3_for_containers(),
        })
        self.sagemaker.install()
        threading.Thread(target=self._deliver_events, daemon=True, name="eventbridge-delivery").start()

    def _s3_for_containers(self) -> dict[str, str]:
        """The same moto S3 over HTTP, for container processes that read `source-ref` objects.

        Model containers read images from S3 themselves, as they do in AWS with the
        SageMaker role; a moto server in this process shares the in-process state, and
        boto3 in the container follows the standard endpoint variable to it.
        """
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        return {"AWS_ENDPOINT_URL_S3": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION}

    def stop(self) -> None:
        self._stop.set()
        if self.sagemaker:
            self.sagemaker.uninstall()
        if getattr(self, "_server", None):
            self._server.stop()
        self._mock.stop()
        engine.uninstall(self._patches)
        self.registry.uninstall()
        self.function_logs.uninstall()
        os.environ.clear()
        os.environ.update(self._saved_env)

    # --------------------------------------------------------- resources ----
    def _resources(self, resource_type: str):
        for logical_id, resource in self.app.template["Resources"].items():
            if resource["Type"] == resource_type:
                yield logical_id, self.resolve(resource.get("Properties", {}))

    def _create_resources(self) -> None:
        s3, dynamodb, sqs = boto3.client("s3"), boto3.client("dynamodb"), boto3.client("sqs")
        for logical_id, _ in self._resources("AWS::S3::Bucket"):
            s3.create_bucket(Bucket=self.resolve.ref(logical_id))
        for _, props in self._resources("Custom::S3BucketNotifications"):
            s3.put_bucket_notification_configuration(
                Bucket=props["BucketName"], NotificationConfiguration=props["NotificationConfiguration"])
        for logical_id, props in self._resources("AWS::DynamoDB::Table"):
            # Global secondary indexes as declared (the tasks table's OpenTasks); on-demand, no throughput.
            indexes = [{k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
                       for index in props.get("GlobalSecondaryIndexes", [])]
            dynamodb.create_table(
                TableName=self.resolve.ref(logical_id), KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"], BillingMode="PAY_PER_REQUEST",
                **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
            )
        for logical_id, _ in self._resources("AWS::SQS::Queue"):
            sqs.create_queue(QueueName=logical_id)
        functions = {
            logical_id: props for logical_id, props in self._resources("AWS::Lambda::Function")
            if str(props.get("Handler", "")).startswith(OUR_HANDLERS)  # not CDK's own helpers
        }
        environment: dict[str, str] = {}
        for props in functions.values():
            for key, value in props.get("Environment", {}).get("Variables", {}).items():
                if environment.get(key, value) != value:
                    raise ValueError(f"functions disagree on {key}; the local cloud shares one environment")
                environment[key] = value
        os.environ.update(environment)
        for logical_id, props in functions.items():
            self.registry.register(logical_id, props["Handler"])
        sfn = boto3.client("stepfunctions")
        logical_id, definition = state_machine_definition(self.app.template)
        self.definition = definition
        self.state_machine_arn = sfn.create_state_machine(
            name=logical_id, definition=json.dumps(definition), roleArn=f"arn:aws:iam::{ACCOUNT}:role/local-sfn",
        )["stateMachineArn"]
        self._create_rules()

    def _create_rules(self) -> None:
        """The rules with their targets, and the queues that Lambda reads (QueuePoller).

        A rule's SQS target is the queue itself: moto's EventBridge delivers to SQS. It cannot
        invoke Lambda, so a rule's Lambda targets get a local delivery queue, drained into them.
        An AWS::Lambda::EventSourceMapping's queue is polled as Lambda polls it.
        """
        events, sqs = boto3.client("events"), boto3.client("sqs")
        self._configure_queues(sqs)
        for logical_id, props in self._resources("AWS::Events::Rule"):
            events.put_rule(Name=logical_id, EventPattern=json.dumps(props["EventPattern"]), State="ENABLED")
            targets = [{"Id": t["Id"], "Arn": t["Arn"]} for t in props.get("Targets", []) if ":sqs:" in t["Arn"]]
            functions = [t["Arn"].split(":function:")[-1] for t in props.get("Targets", []) if ":function:" in t["Arn"]]
            if functions:
                queue_url = sqs.create_queue(QueueName=f"local-delivery-{logical_id}")["QueueUrl"]
                attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
                targets.append({"Id": "local-delivery", "Arn": attributes["QueueArn"]})
                self._deliveries.append(QueuePoller(queue_url, attributes["QueueArn"], functions))
            if targets:
                events.put_targets(Rule=logical_id, Targets=targets)
        for _, props in self._resources("AWS::Lambda::EventSourceMapping"):
            source = props["EventSourceArn"]
            if ":sqs:" not in source or not props.get("Enabled", True):
                continue  # the stack reads no stream; a disabled mapping reads nothing
            self._deliveries.append(QueuePoller(
                sqs.get_queue_url(QueueName=source.rsplit(":", 1)[-1])["QueueUrl"], source,
                [props["FunctionName"].split(":function:")[-1]], event_source=True,
                batch_size=min(int(props.get("BatchSize", 10)), 10),  # SQS receives 10 at most
                report_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            ))

    def _configure_queues(self, sqs) -> None:
        """What delivery depends on of the template's queues: redrive policies, visibility timeouts (scaled)."""
        for logical_id, props in self._resources("AWS::SQS::Queue"):
            attributes = {"VisibilityTimeout": str(local_visibility_timeout(props.get("VisibilityTimeout", 30)))}
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
            sqs.set_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=logical_id)["QueueUrl"],
                                     Attributes=attributes)

    def _deliver_events(self) -> None:
        sqs = boto3.client("sqs")
        while not self._stop.is_set():
            for poller in self._deliveries:
                try:
                    messages = sqs.receive_message(
                        QueueUrl=poller.queue_url, MaxNumberOfMessages=poller.batch_size,
                        AttributeNames=["All"], MessageAttributeNames=["All"],
                    ).get("Messages", [])
                    handled = self._invoke(poller, messages) if messages else []
                    for message in handled:
                        sqs.delete_message(QueueUrl=poller.queue_url, ReceiptHandle=message["ReceiptHandle"])
                except Exception:
                    if self._stop.is_set():  # the mock is stopping
                        return
                    logging.getLogger(__name__).exception("local delivery from %s failed", poller.queue_url)
            time.sleep(0.1)

    def _invoke(self, poller: QueuePoller, messages: list[dict]) -> list[dict]:
        """Run the poller's functions on these messages; the messages to delete."""
        if not poller.event_source:
            for message in messages:
                for function in poller.functions:
                    self.registry.invoke(function, json.loads(message["Body"]))
            return messages
        (function,) = poller.functions
        result, failed = self.registry.invoke(function, {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {name: {key[0].lower() + key[1:]: value for key, value in attribute.items()}
                                  for name, attribute in m.get("MessageAttributes", {}).items()},
            "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": poller.queue_arn,
            "awsRegion": REGION,
        } for m in messages]})
        if failed:
            return []
        if poller.report_item_failures and isinstance(result, dict):
            unhandled = {f.get("itemIdentifier") for f in result.get("batchItemFailures") or []}
            return [m for m in messages if m["MessageId"] not in unhandled]
        return messages

    # ------------------------------------------------------------- usage ----
    @property
    def bucket(self) -> str:
        return self.app.outputs["JobsBucket"]

    def function_for_handler(self, handler_path: str) -> str:
        """The name of the stack's function whose handler is `handler_path` (module.function)."""
        return next(logical_id for logical_id, props in self._resources("AWS::Lambda::Function")
                    if props.get("Handler") == handler_path)

    def function(self, output_name: str) -> str:
        return self.app.outputs[output_name]

    # ------------------------------------------------- as a deployed stack ----
    def serve_as_stack(self, stack_name: str) -> str:
        """Stand in for the deployed stack on moto's server; its endpoint, for AWS_ENDPOINT_URL.

        The job commands (autolabel/deployed) find a stack by its outputs: moto's CloudFormation
        gets a stack of that name with the app's outputs. And Step Functions' own part that moto
        lacks: a stopped or timed-out execution's status-change event goes to EventBridge, whose
        ExecutionStopped rule runs RecordStop (infra/stack.py). `autolabel run` calls RecordStop
        itself when it stops a job (executions.stop), so only a cloud serving as a stack sends them.
        """
        outputs = {**self.app.outputs, "StateMachine": self.state_machine_arn}
        template = {"Resources": {"StandIn": {"Type": "AWS::SQS::Queue"}},  # a stack needs a resource moto makes
                    "Outputs": {name: {"Value": value} for name, value in outputs.items()}}
        boto3.client("cloudformation").create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
        self._abort_when_stopped()
        threading.Thread(target=self._send_status_changes, daemon=True, name="execution-status-events").start()
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def _abort_when_stopped(self) -> None:
        """StopExecution makes an execution ABORTED at once, as Step Functions does. moto's says so only
        when its interpreter thread ends, and one waiting on a task token (HumanLabeling) waits out the
        token's timeout first. Set on this cloud's backend object, which goes with the mock."""
        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        backend = stepfunctions_parser_backends[ACCOUNT][REGION]
        moto_stop = backend.stop_execution

        def stop_execution(execution_arn: str, *args, **kwargs):
            execution = moto_stop(execution_arn, *args, **kwargs)
            # The parser backend's execution (moto types stop_execution by its older backend's).
            execution.exec_status = ExecutionStatus.ABORTED  # type: ignore[attr-defined]
            execution.stop_date = execution.stop_date or datetime.now(UTC)
            return execution

        backend.stop_execution = stop_execution  # type: ignore[method-assign]  # the patch, on this backend only

    def _send_status_changes(self) -> None:
        sfn, events = boto3.client("stepfunctions"), boto3.client("events")
        sent: set[str] = set()
        while not self._stop.is_set():
            try:
                for execution in sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]:
                    arn = execution["executionArn"]
                    if execution["status"] not in STOPPED_STATUSES or arn in sent:
                        continue
                    described = sfn.describe_execution(executionArn=arn)
                    events.put_events(Entries=[{
                        "Source": "aws.states", "DetailType": "Step Functions Execution Status Change",
                        "Resources": [arn], "Detail": json.dumps({
                            "executionArn": arn, "stateMachineArn": self.state_machine_arn,
                            "name": execution["name"], "status": described["status"],
                            "input": described.get("input", "{}")}),
                    }])
                    sent.add(arn)
            except Exception:
                if self._stop.is_set():  # the mock is stopping
                    return
                logging.getLogger(__name__).exception("sending execution status changes failed")
            time.sleep(0.2)
