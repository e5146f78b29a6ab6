"""Shared fixtures: the synthesized app (once per session) and packaged data sets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Before aws_cdk starts its jsii runtime: Node 20 is fine offline, its banner is noise.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from autolabel.datasets import write_bbc_news  # noqa: E402
from autolabel.localcloud.asl import state_machine_definition  # noqa: E402
from autolabel.localcloud.cloud import SynthesizedApp, synthesize  # noqa: E402
from labeling.logic import jsonl  # noqa: E402


@pytest.fixture(scope="session")
def synthesized_app(tmp_path_factory) -> SynthesizedApp:
    return synthesize(tmp_path_factory.mktemp("cdk") / "cdk.out")


@pytest.fixture(scope="session")
def template(synthesized_app) -> dict:
    return synthesized_app.template


@pytest.fixture(scope="session")
def asl(template) -> dict:
    return state_machine_definition(template)[1]


@pytest.fixture(scope="session")
def bbc_news(tmp_path_factory) -> dict[str, Path]:
    return write_bbc_news(tmp_path_factory.mktemp("bbc-news"))


def read_jsonl(path: Path) -> list[dict]:
    """A JSON Lines file's records, split on "\n" only as the pipeline splits them."""
    return [json.loads(line) for line in jsonl.file_lines(path) if line.strip()]


@pytest.fixture
def fake_aws_credentials(monkeypatch):
    """moto's test credentials and region, and no endpoint of a local cloud left over."""
    for variable, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    """A machine where boto3 finds no credentials at all: no variables, files, profile or instance role."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
