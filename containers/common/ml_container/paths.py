"""The SageMaker container directory contract, rooted at $AUTOLABEL_ML_ROOT (default /opt/ml).

SageMaker mounts everything under /opt/ml; the override lets the same entry points
run as plain local processes against any directory laid out the same way.
"""
import os
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "AUTOLABEL_ML_ROOT"
DEFAULT_ROOT = "/opt/ml"


@dataclass(frozen=True)
class MlPaths:
    root: Path

    @classmethod
    def from_env(cls) -> "MlPaths":
        return cls(Path(os.environ.get(ROOT_ENV, DEFAULT_ROOT)))

    @property
    def hyperparameters(self) -> Path:
        return self.root / "input" / "config" / "hyperparameters.json"

    @property
    def resource_config(self) -> Path:
        # Written by SageMaker for a training job: the hosts and the instance type this one runs on.
        return self.root / "input" / "config" / "resourceconfig.json"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    def write_failure(self, message: str) -> None:
        # SageMaker surfaces this file's text as the job's FailureReason.
        self.failure.parent.mkdir(parents=True, exist_ok=True)
        self.failure.write_text(message + "\n", encoding="utf-8")
