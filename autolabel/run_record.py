"""run.json: what `autolabel run` was asked, kept in its workdir so `autolabel resume` can go on.

The workdir of a run is `<output>/.autolabel/` unless --workdir names another; it holds the
local cloud's S3 (localcloud/durable_s3.py), the logs, and this record. `autolabel resume DIR`
takes the output folder or the workdir.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from autolabel.output_folder import RUN_RECORD as RECORD
from autolabel.output_folder import WORKDIR

PATH_FIELDS = ("manifest", "labels", "output", "answers", "workdir")


@dataclass
class RunRecord:
    request: dict[str, Any]  # runner.RunRequest's fields, paths absolute
    job: str
    started: bool = False  # the upload trigger started the job's execution
    completed: bool = False
    resumes: int = 0  # executions started by `autolabel resume`
    history: list[dict[str, Any]] = field(default_factory=list)  # how each attempt ended
    inputs: dict[str, str] = field(default_factory=dict)  # input file -> its SHA-256 when the job started

    def changed_inputs(self, request: Any) -> list[str]:
        """The input files that are not what the job started with (a resume must label the same items)."""
        now = input_fingerprints(request)
        return [path for path, digest in self.inputs.items() if now.get(path) != digest]

    def save(self, workdir: Path) -> None:
        temporary = workdir / f".{RECORD}.tmp"
        temporary.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, workdir / RECORD)

    @classmethod
    def load(cls, workdir: Path) -> RunRecord:
        raw = json.loads((workdir / RECORD).read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in raw.items() if key in known})


def request_fields(request: Any) -> dict[str, Any]:
    values = asdict(request)
    for name in PATH_FIELDS:
        if values.get(name) is not None:
            values[name] = str(Path(values[name]).absolute())
    return values


def request_values(record: RunRecord) -> dict[str, Any]:
    values = dict(record.request)
    for name in PATH_FIELDS:
        if values.get(name) is not None:
            values[name] = Path(values[name])
    return values


def find_workdir(path: Path) -> Path | None:
    """The workdir `autolabel resume PATH` means: PATH itself, or the one inside the output folder PATH."""
    for candidate in (path, path / WORKDIR):
        if (candidate / RECORD).is_file():
            return candidate.absolute()
    return None


def input_fingerprints(request: Any) -> dict[str, str]:
    """SHA-256 of each input file of the run (manifest, labels, answers), by absolute path."""
    digests = {}
    for name in ("manifest", "labels", "answers"):
        path = getattr(request, name)
        if path is not None and Path(path).is_file():
            digest = hashlib.sha256()
            with Path(path).open("rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
            digests[str(Path(path).absolute())] = digest.hexdigest()
    return digests
