"""Device choice and reproducibility, the same for every torch container."""
import os
import shutil
import subprocess
import warnings

import torch

from .instance import has_gpus, instance_type
from .paths import MlPaths
from .training import TrainingError

# CUDA 12.x runs on any driver from this one on (NVIDIA's minor version compatibility).
CUDA_12_MIN_DRIVER = "525.60.13"
# What of torch's own error goes into the failure message: SageMaker's FailureReason holds 1,024 characters.
DETAIL_CHARS = 300


def choose_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def training_device(paths: MlPaths) -> torch.device:
    """choose_device(), except on a GPU instance (resourceconfig.json, instance.py), where a CUDA
    that torch cannot use fails the job at once instead of training on the CPU at the GPU's price."""
    instance = instance_type(paths)
    if not has_gpus(instance):
        return choose_device()
    problem = cuda_problem()
    if problem is None:
        return torch.device("cuda")
    cuda = torch.version.cuda
    if cuda is None:
        image = "no CUDA"
    elif cuda.startswith("12."):
        image = f"CUDA {cuda}, which needs an NVIDIA driver {CUDA_12_MIN_DRIVER} or newer"
    else:
        image = f"CUDA {cuda}"
    raise TrainingError(
        f"{instance} has NVIDIA GPUs but this image cannot use them: {problem}. The job stops here rather "
        f"than train on the CPU at the GPU instance's price. Image: torch {torch.__version__}, {image}"
        f"{driver_note()}. Fix: train with the image of the task type's Dockerfile.train (CUDA torch) on a "
        f"driver that supports its CUDA, or pin a CPU training instance (functions/labeling/task_types.py).")


def cuda_problem() -> str | None:
    """Why torch cannot compute on this host's GPU, or None when a CUDA operation works."""
    if torch.version.cuda is None:
        return "its torch is a CPU build"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    if not available:
        try:
            torch.cuda.init()  # raises what is_available() only warns about, or keeps quiet on
        except Exception as exc:  # torch raises RuntimeError or AssertionError here
            return f"CUDA is not available ({_short(exc)})"
        said = "; ".join(str(w.message) for w in caught)
        return f"CUDA is not available ({_short(said) if said else 'torch sees no GPU'})"
    try:
        # Kernel launches: a GPU that this build ships no kernels for fails here, not at is_available().
        # Elementwise and a reduction, no matmul: cuBLAS reads CUBLAS_WORKSPACE_CONFIG once, at its
        # first handle, which seed_everything sets up for later.
        float((torch.ones(1024, device="cuda") * 2).sum().cpu())
    except Exception as exc:  # whatever CUDA raises, the job cannot train on the GPU
        return f"a CUDA operation failed{_gpu_description()} ({_short(exc)})"
    return None


def _gpu_description() -> str:
    try:
        major, minor = torch.cuda.get_device_capability()
        return (f" on {torch.cuda.get_device_name()} (sm_{major}{minor}; this torch has kernels for "
                f"{' '.join(torch.cuda.get_arch_list())})")
    except Exception:  # only a description: the failure is reported either way
        return ""


def driver_note() -> str:
    """'; host driver X (GPU)' from nvidia-smi where the host mounts it into the container, else ''."""
    if shutil.which("nvidia-smi") is None:
        return ""
    try:
        answer = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,name", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ""
    first = answer.stdout.strip().splitlines()[:1]
    if answer.returncode != 0 or not first:
        return f"; nvidia-smi failed: {_short(answer.stderr or answer.stdout)}"
    driver, _, gpu = first[0].partition(",")
    return f"; host driver {driver.strip()} ({gpu.strip()})"


def _short(detail: object) -> str:
    text = " ".join(str(detail).split())
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS - 3] + "..."


def seed_everything(seed: int) -> None:
    # cuBLAS is deterministic only with a fixed workspace; read when its first handle is made.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    # warn_only: an op without a deterministic kernel warns instead of failing the job.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
