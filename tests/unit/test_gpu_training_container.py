"""The training images on a GPU instance: CUDA that torch cannot use fails the job at once.

resourceconfig.json is written as SageMaker writes it (tests/unit/sagemaker_host.py). torch
here is the CPU build; where a test needs a CUDA build on a broken host, it sets what torch
reports about itself (its CUDA version, whether CUDA is available, what init says) and lets
torch fail where it really fails. The entry points' end of it (exit 1, output/failure, before
any image is read) is in test_image_container.py and test_detection_container.py.
"""
import json
import stat
import sys
import warnings
from pathlib import Path

import pytest
import torch

from tests.unit.sagemaker_host import CPU_INSTANCE, GPU_TRAINING_INSTANCE, write_resource_config

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / "containers" / "common")]

from ml_container import instance, torch_runtime  # noqa: E402
from ml_container.paths import MlPaths  # noqa: E402
from ml_container.training import TrainingError  # noqa: E402

NO_DRIVER = ("Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU "
             "and installed a driver from http://www.nvidia.com/Download/index.aspx")


def _config(root: Path, config: dict) -> MlPaths:
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "resourceconfig.json").write_text(json.dumps(config))
    return MlPaths(root)


def test_the_instance_type_is_the_one_sagemaker_names(tmp_path):
    write_resource_config(tmp_path, GPU_TRAINING_INSTANCE)
    assert instance.instance_type(MlPaths(tmp_path)) == GPU_TRAINING_INSTANCE


def test_in_a_heterogeneous_cluster_it_is_this_hosts_groups(tmp_path):
    paths = _config(tmp_path, {
        "current_host": "algo-2", "current_group_name": "gpus", "hosts": ["algo-1", "algo-2"],
        "instance_groups": [{"instance_group_name": "cpus", "instance_type": CPU_INSTANCE, "hosts": ["algo-1"]},
                            {"instance_group_name": "gpus", "instance_type": "ml.g5.xlarge", "hosts": ["algo-2"]}],
    })
    assert instance.instance_type(paths) == "ml.g5.xlarge"


def test_a_local_run_has_no_instance_type(tmp_path):
    assert instance.instance_type(MlPaths(tmp_path / "none")) is None
    # What the local cloud writes (autolabel/localcloud/sagemaker.py): the hosts only.
    assert instance.instance_type(_config(tmp_path, {"current_host": "algo-1", "hosts": ["algo-1"]})) is None


def test_a_resource_config_that_is_not_json_is_named(tmp_path):
    (tmp_path / "input" / "config").mkdir(parents=True)
    (tmp_path / "input" / "config" / "resourceconfig.json").write_text("{current_host")
    with pytest.raises(TrainingError, match="resourceconfig.json is not JSON"):
        instance.instance_type(MlPaths(tmp_path))


@pytest.mark.parametrize("name, gpus", [
    (GPU_TRAINING_INSTANCE, True), ("ml.p4d.24xlarge", True), ("ml.p5.48xlarge", True), ("ml.g4dn.xlarge", True),
    ("ml.g5.2xlarge", True), (CPU_INSTANCE, False), ("ml.c5.4xlarge", False), ("ml.m4.xlarge", False),
    ("ml.trn1.2xlarge", False), ("ml.inf2.xlarge", False), (None, False),
])
def test_which_instances_have_nvidia_gpus(name, gpus):
    assert instance.has_gpus(name) is gpus


def test_a_cpu_instance_and_a_local_run_train_where_they_always_did(tmp_path):
    write_resource_config(tmp_path / "cpu", CPU_INSTANCE)
    assert torch_runtime.training_device(MlPaths(tmp_path / "cpu")) == torch_runtime.choose_device()
    assert torch_runtime.training_device(MlPaths(tmp_path / "local")) == torch_runtime.choose_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine's torch can use its GPU")
def test_the_cpu_build_on_a_gpu_instance_fails(tmp_path):
    write_resource_config(tmp_path, GPU_TRAINING_INSTANCE)
    with pytest.raises(TrainingError) as failure:
        torch_runtime.training_device(MlPaths(tmp_path))
    message = str(failure.value)
    assert "its torch is a CPU build" in message and f"torch {torch.__version__}, no CUDA" in message
    assert "rather than train on the CPU" in message


def test_a_cuda_build_on_a_host_without_a_usable_driver_fails_naming_both(tmp_path, monkeypatch):
    write_resource_config(tmp_path, GPU_TRAINING_INSTANCE)
    monkeypatch.setattr(torch.version, "cuda", "12.6")

    def not_available() -> bool:
        warnings.warn("CUDA initialization: " + NO_DRIVER, stacklevel=1)
        return False

    def init() -> None:
        raise RuntimeError(NO_DRIVER)

    monkeypatch.setattr(torch.cuda, "is_available", not_available)
    monkeypatch.setattr(torch.cuda, "init", init)
    # The host's nvidia-smi, where SageMaker mounts one: its driver goes into the message.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    nvidia_smi = bin_dir / "nvidia-smi"
    nvidia_smi.write_text("#!/bin/sh\necho '470.57.02, Tesla V100-SXM2-16GB'\n")
    nvidia_smi.chmod(nvidia_smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(TrainingError) as failure:
        torch_runtime.training_device(MlPaths(tmp_path))
    message = str(failure.value)
    assert message.startswith(f"{GPU_TRAINING_INSTANCE} has NVIDIA GPUs but this image cannot use them: "
                              "CUDA is not available (Found no NVIDIA driver on your system.")
    assert "CUDA 12.6, which needs an NVIDIA driver 525.60.13 or newer" in message
    assert "host driver 470.57.02 (Tesla V100-SXM2-16GB)" in message
    assert len(message) < 1024


def test_cuda_that_cannot_run_a_kernel_fails(tmp_path, monkeypatch):
    # is_available() can say yes where no kernel runs (a GPU the build has no kernels for):
    # the check launches one. Here the launch fails for real, in this CPU build.
    write_resource_config(tmp_path, GPU_TRAINING_INSTANCE)
    monkeypatch.setattr(torch.version, "cuda", "12.6")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(TrainingError, match="cannot use them: a CUDA operation failed"):
        torch_runtime.training_device(MlPaths(tmp_path))
