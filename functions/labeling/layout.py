"""Where a job's files live in S3. The output prefix mirrors Ground Truth's layout."""

from __future__ import annotations

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


class JobLayout:
    def __init__(self, job_prefix: str):
        self.prefix = job_prefix if job_prefix.endswith("/") else job_prefix + "/"
        self.output = self.prefix + "output/"

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

    def iteration(self, k: int) -> str:
        return f"iteration-{k}"

    def human_batch(self, k: int) -> str:
        return self.output + f"activelearning/{self.iteration(k)}/human-batch.jsonl"

    def pool(self, k: int) -> str:
        """Items still unlabeled and not in iteration k's human batch."""
        return self.output + f"activelearning/{self.iteration(k)}/pool.jsonl"

    def remaining(self, k: int) -> str:
        """Pool items the model of iteration k did not label, with their ambiguity."""
        return self.output + f"activelearning/{self.iteration(k)}/remaining.jsonl"

    def iteration_summary(self, k: int) -> str:
        return self.output + f"activelearning/{self.iteration(k)}/summary.json"

    def threshold_details(self, k: int) -> str:
        return self.output + f"activelearning/{self.iteration(k)}/threshold.json"

    def worker_response_prefix(self, k: int) -> str:
        return self.output + f"annotations/worker-response/{self.iteration(k)}/"

    def worker_response(self, k: int, item_id: int, worker_id: str) -> str:
        return self.worker_response_prefix(k) + f"{item_id}/{worker_id}.json"

    def consolidated(self, k: int) -> str:
        return self.output + f"annotations/consolidated-annotation/{self.iteration(k)}.jsonl"

    def training_data(self, k: int) -> str:
        return self.output + f"training/{self.iteration(k)}/train/train.jsonl"

    def validation_data(self, k: int) -> str:
        return self.output + f"training/{self.iteration(k)}/validation/validation.jsonl"

    def model_output(self) -> str:
        return self.output + "training/models/"

    def validation_predictions(self, k: int) -> str:
        return self.output + f"inference/{self.iteration(k)}/validation/"

    def pool_predictions(self, k: int) -> str:
        return self.output + f"inference/{self.iteration(k)}/pool/"

    def machine_labels(self, k: int) -> str:
        return self.output + f"inference/{self.iteration(k)}/accepted.jsonl"
