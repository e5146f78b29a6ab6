"""The local cloud: the synthesized stack, stood up in moto and run in this process.

From the CDK app's template it creates the buckets (with the EventBridge
notifications the stack's custom resource would set), the DynamoDB tables,
the queues, the EventBridge rules and the state machine (its definition
resolved to plain ASL), and registers every Lambda function of functions/
under its logical id with its environment. An upload then travels as in AWS:
S3 emits "Object Created" to EventBridge, the rule's pattern matches, and the
rule's Lambda target runs (moto's EventBridge cannot invoke Lambda, so each
rule delivers to a queue that this module drains into the target function).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from moto.server import ThreadedMotoServer

from autolabel.localcloud import engine
from autolabel.localcloud.asl import ACCOUNT, REGION, Resolver, state_machine_definition
from autolabel.localcloud.sagemaker import LocalSageMaker

BUNDLING_STACKS = "aws:cdk:bundling-stacks"  # CDK's context key: the stacks whose assets are bundled
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
LOCAL_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "HF_HUB_OFFLINE": "1",
}
OUR_HANDLERS = "labeling."


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


class LocalCloud:
    def __init__(self, app: SynthesizedApp, workdir: Path):
        self.app = app
        self.workdir = workdir
        self.resolve = Resolver(app.template)
        self.function_logs = engine.FunctionLogs(workdir / "logs" / "lambda.log")
        self.registry = engine.LambdaRegistry(self.function_logs)
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._stop = threading.Event()
        self._deliveries: list[tuple[str, list[str]]] = []  # (queue url, target function names)
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
        engine.install_lambda_dispatcher(self.registry)
        engine.install_sagemaker_integration()
        engine.install_fast_time()
        engine.install_atomic_dynamodb()
        self._create_resources()
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
        events, sqs = boto3.client("events"), boto3.client("sqs")
        for logical_id, props in self._resources("AWS::Events::Rule"):
            events.put_rule(Name=logical_id, EventPattern=json.dumps(props["EventPattern"]), State="ENABLED")
            queue_url = sqs.create_queue(QueueName=f"local-delivery-{logical_id}")["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
            queue_arn = attributes["QueueArn"]
            events.put_targets(Rule=logical_id, Targets=[{"Id": "delivery", "Arn": queue_arn}])
            functions = [t["Arn"].split(":function:")[-1] for t in props.get("Targets", []) if ":function:" in t["Arn"]]
            self._deliveries.append((queue_url, functions))

    def _deliver_events(self) -> None:
        sqs = boto3.client("sqs")
        while not self._stop.is_set():
            for queue_url, functions in self._deliveries:
                try:
                    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
                except Exception:  # the mock is stopping
                    return
                for message in messages:
                    event = json.loads(message["Body"])
                    for function in functions:
                        self.registry.invoke(function, event)
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            time.sleep(0.1)

    # ------------------------------------------------------------- usage ----
    @property
    def bucket(self) -> str:
        return self.app.outputs["JobsBucket"]

    def function(self, output_name: str) -> str:
        return self.app.outputs[output_name]
