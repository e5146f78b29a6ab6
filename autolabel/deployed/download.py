"""`autolabel download JOB --to DIR`: a deployed job's output manifest and report, as files.

What comes down keeps its place under the job's output prefix (manifests/output/output.manifest,
report.json, report.md, accuracy-coverage.png, and failure.json or the invalid lines when there
are any), as `autolabel run --output` lays it out; local images that submit uploaded get the
references the manifest gave them back, as `autolabel run` gives them. Nothing of the user's is replaced: a file in
the way is refused before anything is written, unless --overwrite, which replaces exactly the
files named here and deletes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from autolabel.deployed.stack import (
    DeployedError,
    DeployedStack,
    aws_errors,
    describe,
    has_objects,
    read_json,
    require_job,
)
from autolabel.media import MediaStager
from labeling.layout import JobLayout


def _wanted(layout: JobLayout) -> list[str]:
    return [layout.output_manifest, layout.report, layout.report_summary, layout.accuracy_coverage_plot,
            layout.failure, layout.invalid_lines]


def download(stack: DeployedStack, job: str, to: Path, out: TextIO, *, overwrite: bool = False) -> list[Path]:
    executions = require_job(stack, job)
    if executions and executions[-1]["status"] == "RUNNING":
        raise DeployedError(f"job {job} is still running ({executions[-1]['name']}); its outputs are written when it "
                            f"ends: wait (autolabel status {job} --watch) or stop it (autolabel stop {job})")
    layout = stack.layout(job)
    present = [key for key in _wanted(layout) if has_objects(stack, key)]
    if layout.output_manifest not in present:
        reason = describe(stack, executions[-1]["executionArn"]).get("cause") if executions else "it never started"
        raise DeployedError(f"job {job} has no output manifest yet ({reason or 'its outputs are being written'}); "
                            f"autolabel status {job} says where it stands")
    if to.exists() and not to.is_dir():
        raise DeployedError(f"--to {to} is a file; give a folder")
    targets = {key: to / key[len(layout.output):] for key in present}
    in_the_way = [path for path in targets.values() if path.exists()]
    if in_the_way and not overwrite:
        raise DeployedError(f"{in_the_way[0]} exists" + (f" (and {len(in_the_way) - 1} more)" if len(in_the_way) > 1
                                                          else "")
                            + "; give a new or empty folder, or pass --overwrite to replace those files")
    bad = next((path for path in in_the_way if not path.is_file()), None)
    if bad:
        raise DeployedError(f"{bad} is a folder, where the job's file of that name goes; move it or give another --to")
    s3 = stack.client("s3")
    with aws_errors(f"s3:GetObject on s3://{stack.bucket}/{layout.output}*"):
        for key, path in targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".downloading")
            s3.download_file(stack.bucket, key, str(partial))
            os.replace(partial, path)  # a file in place is whole: never half a download
    references = read_json(stack, layout.media_references)  # local images that submit uploaded
    if references and layout.output_manifest in targets:
        media = MediaStager()
        media.original.update(references)
        media.restore(targets[layout.output_manifest])
    for path in targets.values():
        print(f"downloaded {path}", file=out)
    return list(targets.values())
