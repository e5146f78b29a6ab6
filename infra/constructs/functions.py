"""The Lambda functions: one code asset (functions/), a Powertools layer and a JSON layer
(orjson, for the steps that stream manifests) on every function, and a plotting layer (matplotlib)
for the functions that draw the report's plot."""

import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, Duration, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.paths import FUNCTIONS_DIR
from labeling.observability import METRICS_NAMESPACE, SERVICE_NAME

# requirements.txt of the Powertools layer (Powertools, its tracer and parser extras, pydantic),
# pinned as the venv the tests run in (make setup installs with it as constraints). Built here
# rather than taken from the public layer (017000801446:AWSLambdaPowertoolsPythonV3-python314-x86_64):
# a public layer's number does not say which Powertools it holds, the one pinned before (27: 3.23)
# was not the 3.37 the tests ran, and Powertools' docs at hand give no number for 3.37. Installed
# without dependencies: the file is the whole closure but the runtime's own (its header says why).
POWERTOOLS_LAYER_DIR = Path(__file__).resolve().parent.parent / "layers" / "powertools"
PYTHON_RUNTIME = lambda_.Runtime.PYTHON_3_14
# Workflow functions stream whole manifests: give them Lambda's longest run.
STREAMING_TIMEOUT = Duration.minutes(15)

# requirements.txt of the plotting layer; it is the asset's source, so a new pin is a new layer.
PLOTTING_LAYER_DIR = Path(__file__).resolve().parent.parent / "layers" / "plotting"
# Lambda's python3.14 runtime is Amazon Linux 2023 (glibc 2.34). pip does not widen a
# manylinux_2_x platform to older glibcs, so every one from 2.34 down is named.
LAMBDA_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(34, 16, -1)] + ["manylinux2014_x86_64"]
# requirements.txt of the JSON layer (orjson: logic/jsonl.py reads and writes lines with it), pinned as
# pyproject.toml pins it; every function carries it.
JSON_LAYER_DIR = Path(__file__).resolve().parent.parent / "layers" / "json"
# matplotlib writes its font cache here; the function's home directory is read-only.
MATPLOTLIB_CONFIG_DIR = "/tmp/matplotlib"


def pip_for_lambda(requirements: Path, target: str, *, with_dependencies: bool = True) -> list[str]:
    """pip on this machine installing wheels built for the Lambda runtime, whatever this machine is."""
    return [
        # --no-warn-conflicts: the target is a fresh folder, not this venv, whose packages pip would compare it with.
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-conflicts",
        "--no-compile",
        "--requirement", str(requirements), "--target", target,
        "--only-binary=:all:", "--implementation", "cp", "--python-version", PYTHON_RUNTIME.name.removeprefix("python"),
        *(f"--platform={platform}" for platform in LAMBDA_PLATFORMS),
        *([] if with_dependencies else ["--no-deps"]),
    ]


@jsii.implements(ILocalBundling)
class _LocalPip:
    """Build the layer with this machine's pip; False hands it to Docker (the runtime's build image)."""

    def __init__(self, requirements: Path, *, with_dependencies: bool):
        self.requirements = requirements
        self.with_dependencies = with_dependencies

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        try:
            subprocess.run(pip_for_lambda(self.requirements, f"{output_dir}/python",
                                          with_dependencies=self.with_dependencies), check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"layer {self.requirements.parent.name}: local pip failed ({error}); building it in Docker",
                  file=sys.stderr)
            return False
        return True


def plotting_layer(scope: Construct, construct_id: str) -> lambda_.LayerVersion:
    """matplotlib and its dependencies under python/, where Lambda puts layers on sys.path."""
    return requirements_layer(scope, construct_id, PLOTTING_LAYER_DIR,
                              "matplotlib for the report's accuracy-coverage plot (WriteOutput)")


def requirements_layer(scope: Construct, construct_id: str, folder: Path, description: str, *,
                       with_dependencies: bool = True) -> lambda_.LayerVersion:
    """The packages of folder/requirements.txt under python/, where Lambda puts layers on sys.path;
    with_dependencies=False installs exactly the file's lines (pip --no-deps).

    Bundled when the app is synthesized for deployment (`cdk synth` / `cdk deploy`); the
    local cloud and the tests synthesize with bundling skipped (context aws:cdk:bundling-stacks
    = []), and then the asset is the requirements folder itself, never pip's output.
    """
    return lambda_.LayerVersion(
        scope, construct_id,
        code=lambda_.Code.from_asset(str(folder), bundling=BundlingOptions(
            # jsii calls try_bundle(output_dir, options) with the options struct; the protocol's Python
            # typing spreads the struct's fields as keywords instead.
            local=_LocalPip(  # type: ignore[arg-type]
                folder / "requirements.txt", with_dependencies=with_dependencies),
            image=PYTHON_RUNTIME.bundling_image,
            platform="linux/amd64",
            command=["pip", "install", "--no-cache-dir", "--no-compile",
                     "--requirement", "/asset-input/requirements.txt", "--target", "/asset-output/python",
                     *([] if with_dependencies else ["--no-deps"])],
        )),
        compatible_runtimes=[PYTHON_RUNTIME],
        compatible_architectures=[lambda_.Architecture.X86_64],
        description=description,
    )


class LabelingFunctions(Construct):
    """A factory for the project's functions, sharing code, layer and settings."""

    def __init__(self, scope: Construct, construct_id: str, *, environment: dict[str, str]) -> None:
        super().__init__(scope, construct_id)
        self.layer = requirements_layer(self, "PowertoolsLayer", POWERTOOLS_LAYER_DIR,
                                        "Powertools for AWS Lambda (Python) with its tracer and parser extras",
                                        with_dependencies=False)
        self.code = lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=["**/__pycache__", "*.pyc"])
        self.environment = {
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            **environment,
        }
        self.plotting_layer = plotting_layer(self, "PlottingLayer")
        self.json_layer = requirements_layer(self, "JsonLayer", JSON_LAYER_DIR,
                                             "orjson for reading and writing JSON Lines (logic/jsonl.py)")
        self.all: list[lambda_.Function] = []

    def function(self, construct_id: str, handler: str, *, timeout: Duration | None = None,
                 memory_mb: int = 1024, environment: dict[str, str] | None = None) -> lambda_.Function:
        fn = lambda_.Function(
            self, construct_id,
            runtime=PYTHON_RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            code=self.code,
            layers=[self.layer, self.json_layer],
            timeout=timeout or STREAMING_TIMEOUT,
            memory_size=memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            environment={**self.environment, **(environment or {})},
            log_group=logs.LogGroup(self, f"{construct_id}Logs", retention=logs.RetentionDays.THREE_MONTHS),
        )
        self.all.append(fn)
        return fn

    def add_plotting(self, fn: lambda_.Function) -> None:
        """Give a function matplotlib (only WriteOutput draws, so only it carries the layer's weight)."""
        fn.add_layers(self.plotting_layer)
        fn.add_environment("MPLCONFIGDIR", MATPLOTLIB_CONFIG_DIR)
