"""What SageMaker tells a training container about its host, for the container tests."""
import json
from pathlib import Path

# The pinned instances (functions/labeling/task_types.py): training on a V100, transform on CPUs.
GPU_TRAINING_INSTANCE = "ml.p3.2xlarge"
CPU_INSTANCE = "ml.c5.xlarge"


def write_resource_config(root: Path, instance_type: str) -> None:
    """input/config/resourceconfig.json of a one-instance training job, in SageMaker's shape."""
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "resourceconfig.json").write_text(json.dumps({
        "current_host": "algo-1",
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": ["algo-1"],
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": instance_type,
                             "hosts": ["algo-1"]}],
        "network_interface_name": "eth0",
    }))
