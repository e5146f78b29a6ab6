"""Plain ASL from a synthesized template: the definition the local engine runs.

CDK emits a state machine's DefinitionString as an Fn::Join of strings and
Ref / Fn::GetAtt tokens. Each token becomes a deterministic, type-aware local
name (a Lambda's ARN ends in its logical id, a bucket is named after its
logical id, ...); the LocalCloud creates its resources under the same names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

ACCOUNT, REGION, PARTITION, URL_SUFFIX = "123456789012", "us-east-1", "aws", "amazonaws.com"

PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": URL_SUFFIX,
    "AWS::StackName": "Autolabel",
    "AWS::NoValue": "",
}

# resource type -> (Ref pattern, Fn::GetAtt Arn pattern); {id} logical id, {lid} lower-cased
_TYPED = {
    "AWS::Lambda::Function": ("{id}", "arn:aws:lambda:{r}:{a}:function:{id}"),
    "AWS::IAM::Role": ("{id}", "arn:aws:iam::{a}:role/{id}"),
    "AWS::S3::Bucket": ("{lid}", "arn:aws:s3:::{lid}"),
    "AWS::DynamoDB::Table": ("{id}", "arn:aws:dynamodb:{r}:{a}:table/{id}"),
    "AWS::SQS::Queue": ("https://sqs.{r}.amazonaws.com/{a}/{id}", "arn:aws:sqs:{r}:{a}:{id}"),
    "AWS::SNS::Topic": ("arn:aws:sns:{r}:{a}:{id}", "arn:aws:sns:{r}:{a}:{id}"),
    "AWS::StepFunctions::StateMachine": ("arn:aws:states:{r}:{a}:stateMachine:{id}",
                                         "arn:aws:states:{r}:{a}:stateMachine:{id}"),
    "AWS::Logs::LogGroup": ("{id}", "arn:aws:logs:{r}:{a}:log-group:{id}"),
}


def _fmt(pattern: str, logical_id: str) -> str:
    return pattern.format(id=logical_id, lid=logical_id.lower(), r=REGION, a=ACCOUNT)


class Resolver:
    def __init__(self, template: Mapping[str, Any]):
        self.resources = template.get("Resources", {})
        self.parameters = template.get("Parameters", {})

    def ref(self, name: str) -> str:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return str(self.parameters[name].get("Default", name))
        resource_type = self.resources.get(name, {}).get("Type", "")
        return _fmt(_TYPED.get(resource_type, ("{id}", None))[0], name)

    def get_att(self, name: str, attribute: str) -> str:
        resource_type = self.resources.get(name, {}).get("Type", "")
        if attribute == "Arn":
            pattern = _TYPED.get(resource_type, (None, None))[1]
            if pattern:
                return _fmt(pattern, name)
        if attribute in ("Name", "TopicName", "QueueName"):
            return name
        return f"arn:aws:local:{REGION}:{ACCOUNT}:{name}/{attribute}"

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                name, attribute = value if isinstance(value, list) else value.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Join":
                separator, parts = value
                return separator.join(str(self(p)) for p in self(parts))
            if key == "Fn::Select":
                index, items = value
                return self(items)[int(self(index))]
            if key == "Fn::Split":
                separator, text = value
                return str(self(text)).split(separator)
            if key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                variables = {k: self(v) for k, v in variables.items()}

                def substitute(match: re.Match) -> str:
                    token = match.group(1)
                    if token in variables:
                        return str(variables[token])
                    if "." in token:
                        return self.get_att(*token.split(".", 1))
                    return self.ref(token)

                return re.sub(r"\$\{([^!}][^}]*)\}", substitute, text)
        return {k: self(v) for k, v in node.items()}


def state_machine_definition(template: Mapping[str, Any]) -> tuple[str, dict]:
    """(logical id, ASL) of the template's one state machine."""
    resolve = Resolver(template)
    machines = [
        (lid, r) for lid, r in template["Resources"].items() if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    if len(machines) != 1:
        raise ValueError(f"expected one state machine, found {[lid for lid, _ in machines]}")
    logical_id, resource = machines[0]
    raw = resolve(resource["Properties"]["DefinitionString"])
    return logical_id, json.loads(raw) if isinstance(raw, str) else raw


def iter_states(asl: Mapping[str, Any]):
    """(name, state) for every state, descending into Map and Parallel."""
    for name, state in asl.get("States", {}).items():
        yield name, state
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from iter_states(state[key])
        for branch in state.get("Branches", []):
            yield from iter_states(branch)
