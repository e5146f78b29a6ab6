"""What each function may do in the job bucket: one table, its keys spelled with labeling/layout.py.

Every key a job reads or writes lies under jobs/<job>/ (JobLayout); the table names, per function,
the key patterns it reads (s3:GetObject), writes (s3:PutObject, s3:AbortMultipartUpload for a
JsonlWriter that gives up) and deletes (s3:DeleteObject), with `*` for the job and the iteration.
tests/infra/test_least_privilege.py runs a job on the local cloud, records every S3 call of each
function and fails on any that these statements (as synthesized) would not allow.

ListBucket: every function gets it on the job bucket, without a prefix condition. Reading a key that
is not there is how several steps ask "is it there yet?" (read_json_if_present: a checkpoint, an
answer, an earlier failure.json); S3 answers NoSuchKey only to a caller that may list the bucket, and
AccessDenied to any other. A listing shows key names, never contents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from labeling.layout import JobLayout
from labeling.logic.image_files import SOURCE_PREFIX

ANY = "*"  # any job, any iteration, any item
JOB = JobLayout(f"jobs/{ANY}")
# JobLayout's numbers (iteration, item id, resume) as the wildcard; the layout types them int.
K: Any = ANY

# Objects a manifest's source-ref may name in the job bucket: anywhere under jobs/ (autolabel run
# uploads local images to jobs/<job>/data/). ValidateJob refuses any other (labeling.logic.image_files).
SOURCE_OBJECTS = SOURCE_PREFIX + ANY


def _below(prefix: str) -> str:
    return prefix + ANY


@dataclass(frozen=True)
class JobAccess:
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    deletes: tuple[str, ...] = ()


CHECKPOINT = (JOB.checkpoint,)
# What WriteOutput reads and writes to produce the outputs; RecordFailure and RecordStop write the
# same outputs for a job that ended early.
OUTPUT_READS = (JOB.input_manifest, JOB.invalid_lines, JOB.label_categories, _below(JOB.output + "activelearning/"),
                _below(JOB.output + "annotations/consolidated-annotation/"), _below(JOB.output + "inference/"))
OUTPUT_WRITES = (JOB.output_manifest, JOB.report, JOB.report_summary, JOB.accuracy_coverage_plot)

WORKFLOW_ACCESS: dict[str, JobAccess] = {
    # job files, and the first bytes of every source-ref object (is it an image?)
    "validate_job": JobAccess(reads=(SOURCE_OBJECTS,), writes=(JOB.invalid_lines, *CHECKPOINT)),
    "select_sample": JobAccess(
        reads=(JOB.input_manifest, JOB.invalid_lines),
        writes=(JOB.human_batch(K), _below(JOB.pool(K)), *CHECKPOINT)),
    # the batch's items too large for their task record go beside it; a batch published again (a
    # resume) counts the answers its items already have
    "publish_human_tasks": JobAccess(reads=(JOB.human_batch(K), _below(JOB.worker_response_prefix(K))),
                                     writes=(JOB.human_item(K, K),)),
    "consolidate_annotations": JobAccess(
        reads=(JOB.human_batch(K), _below(JOB.worker_response_prefix(K)), JOB.consolidated(K), JOB.label_categories),
        writes=(JOB.consolidated(K), JOB.intermediate_manifest(K), JOB.training_data(K),
                _below(JOB.validation_data(K)), *CHECKPOINT)),
    "compute_threshold": JobAccess(  # the pool too: a job-level promise counts what each threshold labels
        reads=(_below(JOB.validation_data(K)), _below(JOB.validation_predictions(K)),
               _below(JOB.pool(K)), JOB.remaining(K), _below(JOB.pool_predictions(K))),
        writes=(JOB.threshold_details(K), *CHECKPOINT)),
    "apply_threshold": JobAccess(
        reads=(_below(JOB.pool(K)), JOB.remaining(K), _below(JOB.pool_predictions(K)), JOB.threshold_details(K)),
        writes=(JOB.machine_labels(K), JOB.remaining(K), JOB.iteration_summary(K), *CHECKPOINT)),
    "select_ambiguous": JobAccess(
        reads=(_below(JOB.pool(K)), JOB.remaining(K)),
        writes=(JOB.human_batch(K), _below(JOB.pool(K)), *CHECKPOINT)),
    # the audit (labeling/logic/audit.py): a sample of the machine labels, with the items' data objects,
    # as one more human batch; then its human labels, their intermediate manifest and audit.json
    "select_audit": JobAccess(
        reads=(JOB.input_manifest, JOB.invalid_lines, JOB.machine_labels(K)),
        writes=(JOB.human_batch(K), *CHECKPOINT)),
    "consolidate_audit": JobAccess(
        reads=(JOB.human_batch(K), _below(JOB.worker_response_prefix(K))),
        writes=(JOB.audit_labels, JOB.intermediate_manifest(K), JOB.audit_summary, *CHECKPOINT)),
    "write_output": JobAccess(reads=OUTPUT_READS, writes=(*OUTPUT_WRITES, *CHECKPOINT)),
    # a failed job's outputs so far, the answers of the batch it was waiting for, and failure.json
    "record_failure": JobAccess(
        reads=(*OUTPUT_READS, JOB.checkpoint, _below(JOB.worker_response_prefix(K))),
        writes=(*OUTPUT_WRITES, JOB.failure)),
    # the checkpoint; an earlier attempt's failure.json is set aside (copied, then deleted)
    "resume_job": JobAccess(
        reads=(JOB.checkpoint, JOB.failure), writes=(JOB.earlier_failure(K),), deletes=(JOB.failure,)),
}
# Not in the state machine: StartJob writes failure.json for an upload that cannot start a job;
# RecordStop writes a stopped execution's outputs so far, as RecordFailure does.
OTHER_ACCESS: dict[str, JobAccess] = {
    "start_job": JobAccess(writes=(JOB.failure,)),
    "record_stop": WORKFLOW_ACCESS["record_failure"],
}

READ_ACTIONS = ["s3:GetObject"]
WRITE_ACTIONS = ["s3:PutObject", "s3:AbortMultipartUpload"]
DELETE_ACTIONS = ["s3:DeleteObject"]


def grant_job_access(grantee: iam.IGrantable, bucket: s3.IBucket, access: JobAccess) -> None:
    """The table's row as IAM statements on `grantee` (the bucket's KMS key is granted by its owner)."""
    principal = grantee.grant_principal
    principal.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
    for actions, keys in ((READ_ACTIONS, access.reads), (WRITE_ACTIONS, access.writes),
                          (DELETE_ACTIONS, access.deletes)):
        if keys:
            principal.add_to_principal_policy(iam.PolicyStatement(
                actions=actions, resources=[bucket.arn_for_objects(key) for key in keys]))
