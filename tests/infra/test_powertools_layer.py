"""The Powertools layer: the functions in AWS run the Powertools (and pydantic) the tests run.

The layer is built from infra/layers/powertools/requirements.txt with pip --no-deps, so that
file is everything the layer holds: every line must be the version installed here, and
together with the Lambda runtime's own packages the lines must be the whole dependency
closure of what the functions import.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, requires, version

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.constructs.functions import POWERTOOLS_LAYER_DIR

# What the python3.14 Lambda runtime ships (boto3 and its dependencies); a copy in the layer
# would shadow the runtime's, so the layer must not carry them.
RUNTIME_PACKAGES = {"boto3", "botocore", "jmespath", "s3transfer", "urllib3", "python-dateutil", "six"}
# The extras of Powertools the functions use: Tracer in every handler, the parser's pydantic models.
POWERTOOLS_EXTRAS = {"tracer", "parser"}


def _layer_pins() -> dict[str, str]:
    lines = (POWERTOOLS_LAYER_DIR / "requirements.txt").read_text().splitlines()
    pins = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{line}: the layer pins exact versions"
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def _dependencies(package: str, extras: set[str]) -> set[str]:
    """The packages `package` (with `extras`) needs on Linux, by its installed metadata."""
    needed = set()
    for line in requires(package) or []:
        requirement = Requirement(line)
        environments = [{"extra": extra, "sys_platform": "linux", "platform_system": "Linux"}
                        for extra in extras or {""}]
        if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
            needed.add(canonicalize_name(requirement.name))
    return needed


def test_every_function_carries_the_powertools_layer(template):
    layers = [lid for lid, r in template["Resources"].items()
              if r["Type"] == "AWS::Lambda::LayerVersion" and lid.startswith("FunctionsPowertoolsLayer")]
    (layer_id,) = layers
    ours = [r["Properties"] for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler", "").startswith("labeling.")]
    assert ours and all({"Ref": layer_id} in props["Layers"] for props in ours)
    # No public layer of another account: its number says nothing about the Powertools inside.
    assert all(isinstance(layer, dict) for props in ours for layer in props["Layers"])


def test_the_layer_ships_the_powertools_the_tests_run_with():
    pins = _layer_pins()
    assert pins["aws-lambda-powertools"] == version("aws-lambda-powertools")
    dependencies = tomllib.loads((POWERTOOLS_LAYER_DIR.parents[2] / "pyproject.toml").read_text())["project"][
        "dependencies"]
    (declared,) = [Requirement(d) for d in dependencies if Requirement(d).name == "aws-lambda-powertools"]
    assert str(declared.specifier) == f"=={pins['aws-lambda-powertools']}"
    assert declared.extras == POWERTOOLS_EXTRAS


@pytest.mark.parametrize("package", sorted(_layer_pins()))
def test_each_layer_package_is_the_version_installed_here(package):
    try:
        installed = version(package)
    except PackageNotFoundError:
        pytest.fail(f"{package} is in the Powertools layer but not installed here: run `make setup`")
    assert _layer_pins()[package] == installed, (
        f"infra/layers/powertools/requirements.txt pins {package}=={_layer_pins()[package]}, the venv has "
        f"{installed}: `make setup` installs the layer's pins; or update the file to what the tests ran")


def test_the_layer_and_the_runtime_hold_the_whole_closure():
    pins = _layer_pins()
    assert not pins.keys() & RUNTIME_PACKAGES, "the runtime's own packages would be shadowed"
    missing = {}
    for package in pins:
        extras = POWERTOOLS_EXTRAS if package == "aws-lambda-powertools" else set()
        lacking = _dependencies(package, extras) - pins.keys() - RUNTIME_PACKAGES
        if lacking:
            missing[package] = sorted(lacking)
    assert not missing, f"add to infra/layers/powertools/requirements.txt: {missing}"
    # The functions import pydantic themselves (labeling/models), not only through Powertools.
    assert "pydantic" in pins
