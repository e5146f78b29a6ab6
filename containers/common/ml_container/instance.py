"""The instance a training job runs on, as SageMaker tells a bring-your-own container.

SageMaker writes input/config/resourceconfig.json for every training job; its
`current_instance_type` (or, in a heterogeneous cluster, the type of the instance group
named by `current_group_name`) is the only place a custom image learns what it runs on:
the SM_* variables (SM_NUM_GPUS...) are set by the SageMaker training toolkit inside
framework images, not by the platform. Locally the file is absent, or has no instance
type (the local cloud writes only the hosts), and nothing here applies.
"""
import json
import re

from .paths import MlPaths
from .training import TrainingError

# SageMaker's NVIDIA GPU families: P (ml.p3.2xlarge, the pinned training instance: one V100),
# and G (ml.g4dn, ml.g5, ...). Trainium and Inferentia instances are not CUDA devices.
GPU_INSTANCE = re.compile(r"^ml\.[pg]\d")


def instance_type(paths: MlPaths) -> str | None:
    """This host's instance type, or None when SageMaker did not say (a local run)."""
    path = paths.resource_config
    if not path.exists():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        message = f"{path} is not JSON ({exc}); SageMaker writes this file, a local run may leave it out"
        raise TrainingError(message) from None
    if not isinstance(config, dict):
        raise TrainingError(f"{path} must hold a JSON object, got {type(config).__name__}")
    if isinstance(config.get("current_instance_type"), str):
        return config["current_instance_type"]
    group = config.get("current_group_name")
    for instance_group in config.get("instance_groups") or []:
        if isinstance(instance_group, dict) and instance_group.get("instance_group_name") == group:
            return instance_group.get("instance_type")
    return None


def has_gpus(instance: str | None) -> bool:
    return instance is not None and GPU_INSTANCE.match(instance) is not None
