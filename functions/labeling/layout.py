"""Where a job's files live in S3. The output prefix mirrors Ground Truth's layout."""

from __future__ import annotations

import re

INPUT_MANIFEST = "input.manifest"
JOB_CONFIG = "job.json"
LABEL_CATEGORIES = "labels.json"
ACCURACY_COVERAGE_PLOT = "accuracy-coverage.png"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


# Execution names allow more, but SageMaker job names built from the job name
# must stay within 63 characters of [a-zA-Z0-9-].
JOB_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,38}[a-zA-Z0-9])?$")
MANIFEST_KEY = re.compile(rf"^jobs/(?P<job>[^/]+)/{re.escape(INPUT_MANIFEST)}$")


class InvalidJobNameError(ValueError):
    pass


def job_name_from_key(key: str) -> str:
    """The job an uploaded manifest's key names (jobs/<job>/input.manifest), if it can name one."""
    match = MANIFEST_KEY.match(key)
    if not match:
        raise InvalidJobNameError(f"{key!r} is not a job manifest; upload it as jobs/<job>/{INPUT_MANIFEST}")
    job = match["job"]
    if not JOB_NAME.match(job):
        raise InvalidJobNameError(
            f"job name {job!r} (from {key!r}) is not allowed; use 1-40 letters, digits or "
            "hyphens, starting and ending with a letter or digit, and upload again"
        )
    return job


class JobLayout:
    def __init__(self, job_prefix: str):
        self.prefix = job_prefix if job_prefix.endswith("/") else job_prefix + "/"
        self.output = self.prefix + "output/"

    @classmethod
    def from_manifest_key(cls, key: str) -> JobLayout:
        """The layout of the job whose input manifest is at `key` (its folder is the job's prefix)."""
        return cls(key.rsplit("/", 1)[0])

    @property
    def job_name(self) -> str:
        return self.prefix.rstrip("/").rsplit("/", 1)[-1]

    # inputs, uploaded by the user
    @property
    def input_manifest(self) -> str:
        return self.prefix + INPUT_MANIFEST

    @property
    def job_config(self) -> str:
        return self.prefix + JOB_CONFIG

    @property
    def label_categories(self) -> str:
        return self.prefix + LABEL_CATEGORIES

    @property
    def media(self) -> str:
        """Where `autolabel run` and `autolabel submit` upload the local images a manifest names (media.py)."""
        return self.prefix + "data/"

    @property
    def media_references(self) -> str:
        """The references the manifest gave those images, by their S3 URIs, for the output manifest (submit)."""
        return self.prefix + "data-references.json"

    # the run's progress, for a resume (labeling.dal.checkpoints): beside the output, not in it
    @property
    def checkpoint(self) -> str:
        return self.prefix + "resume/checkpoint.json"

    def earlier_failure(self, resume: int) -> str:
        """failure.json of the attempt that resume number `resume` continued (ResumeJob moves it here)."""
        return self.prefix + f"resume/failure-before-resume-{resume}.json"

    # outputs, Ground Truth's layout
    @property
    def output_manifest(self) -> str:
        return self.output + "manifests/output/output.manifest"

    @property
    def report(self) -> str:
        return self.output + "report.json"

    # report.json for a person, and its plot, beside it (report.md links the plot by this name)
    @property
    def report_summary(self) -> str:
        return self.output + "report.md"

    @property
    def accuracy_coverage_plot(self) -> str:
        return self.output + ACCURACY_COVERAGE_PLOT

    @property
    def failure(self) -> str:
        return self.output + "failure.json"

    @property
    def invalid_lines(self) -> str:
        """The manifest lines the job cannot label, id-ordered: {"id", "line", "reason"} (ValidateJob)."""
        return self.output + "manifests/input/invalid-lines.jsonl"

    def iteration(self, k: int) -> str:
        return f"iteration-{k}"

    def human_batch(self, k: int) -> str:
        return self.output + f"activelearning/{self.iteration(k)}/human-batch.jsonl"

    def pool(self, k: int) -> str:
        """Items still unlabeled and not in iteration k's human batch: a folder of shards, part-00000.jsonl
        on (labeling.dal.shards), one per transform instance."""
        return self.output + f"activelearning/{self.iteration(k)}/pool/"

    def remaining(self, k: int) -> str:
        """Pool items the model of iteration k did not label, with their ambiguity."""
        return self.output + f"activelearning/{self.iteration(k)}/remaining.jsonl"

    def iteration_summary(self, k: int) -> str:
        return self.output + f"activelearning/{self.iteration(k)}/summary.json"

    def threshold_details(self, k: int) -> str:
        return self.output + f"activelearning/{self.iteration(k)}/threshold.json"

    def worker_response_prefix(self, k: int) -> str:
        return self.output + f"annotations/worker-response/{self.iteration(k)}/"

    def worker_response(self, k: int, item_id: int, file_name: str) -> str:
        """One counted worker answer to an item, in Ground Truth's worker-response shape: its name is
        `<submission time>-<worker id>.json` (labeling.logic.worker_answers), so a batch's folder
        lists each item's answers in the order they came."""
        return self.worker_response_prefix(k) + f"{item_id}/{file_name}"

    def submissions(self, k: int, item_id: int) -> str:
        """Where each answer is staged before it is counted: beside the output, never read as an answer."""
        return self.prefix + f"submissions/{self.iteration(k)}/{item_id}/"

    def human_item(self, k: int, item_id: int) -> str:
        """A batch item's data object, kept in S3 when it is too large for its task record (PublishHumanTasks)."""
        return self.output + f"activelearning/{self.iteration(k)}/items/{item_id}.json"

    def consolidated(self, k: int) -> str:
        return self.output + f"annotations/consolidated-annotation/{self.iteration(k)}.jsonl"

    def intermediate_manifest(self, k: int) -> str:
        """Iteration k's human batch in the output manifest's line format (ConsolidateAnnotations).

        Ground Truth's docs name the folder, `annotations/intermediate` ("the output manifest for
        the current batch with any completed labels"), not the file; public scripts that read its
        jobs' outputs find `annotations/intermediate/<iteration>/annotations.manifest` (some
        `annotations.json`). Our iterations count from 0.
        """
        return self.output + f"annotations/intermediate/{k}/annotations.manifest"

    def training_data(self, k: int) -> str:
        return self.output + f"training/{self.iteration(k)}/train/train.jsonl"

    def validation_data(self, k: int) -> str:
        """A folder of shards, as the pool (labeling.dal.shards)."""
        return self.output + f"training/{self.iteration(k)}/validation/"

    def model_output(self) -> str:
        return self.output + "training/models/"

    def validation_predictions(self, k: int) -> str:
        return self.output + f"inference/{self.iteration(k)}/validation/"

    def pool_predictions(self, k: int) -> str:
        return self.output + f"inference/{self.iteration(k)}/pool/"

    def machine_labels(self, k: int) -> str:
        return self.output + f"inference/{self.iteration(k)}/accepted.jsonl"

    # The audit (logic/audit.py): its sample is one more human batch (human_batch of the audit's
    # iteration); the human labels it gave, each with the machine label it replaces, sit beside the
    # loop's consolidated annotations, and its figures (report.json's `audit`) beside the iterations'.
    @property
    def audit_labels(self) -> str:
        return self.output + "annotations/consolidated-annotation/audit.jsonl"

    @property
    def audit_summary(self) -> str:
        return self.output + "activelearning/audit.json"
