"""ConsolidateAnnotations: one label per item from the workers' answers; training sets.

The batch's labels go to two files: the label records (consolidated-annotation, which
the rest of the loop and WriteOutput read) and Ground Truth's intermediate manifest of
the batch (layout.intermediate_manifest), in the output manifest's line format.

It also decides whether this iteration trains a model, and if so writes the
training set (every human label so far, except this iteration's calibration
sample) and the validation set (that calibration sample).
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.checkpointing import checkpointed
from labeling.dal import s3
from labeling.dal.shards import ShardedJsonlWriter
from labeling.dal.worker_responses import batch_answers
from labeling.layout import split_s3_uri
from labeling.logic import out_of_reach
from labeling.logic.batches import CALIBRATION
from labeling.logic.human_labels import human_label
from labeling.logic.label_kinds import labels_of
from labeling.logic.output import creation_date, labeled_line
from labeling.logic.sagemaker_step import rows_per_shard, sagemaker_step
from labeling.models.state import HumanBatch, JobState
from labeling.observability import HUMAN_ANNOTATED, job_metric, logger, tracer
from labeling.task_types import task_type


def consolidate(state: JobState) -> int:
    """Label each item of the batch; write the label records and the intermediate manifest.

    Intermediate lines are the output manifest's lines (logic/output.py's `labeled_line`) of
    the batch's items, in id order, each holding the item's `source` or `source-ref` and the
    label: a batch item carries no other field of its input line, and joining the input
    manifest here would read it whole each iteration; the output manifest has every field.
    """
    bucket, layout, k = state.job.bucket, state.job.layout, state.iteration
    settings = state.job.settings
    needed = settings.NumberOfHumanWorkersPerDataObject
    task = task_type(settings.TaskType)
    kind = labels_of(settings.TaskType)
    created = creation_date()
    _, batch_key = split_s3_uri(_batch(state).uri)
    with s3.JsonlWriter(bucket, layout.consolidated(k)) as writer, \
            s3.JsonlWriter(bucket, layout.intermediate_manifest(k)) as intermediate:
        for item, responses in batch_answers(bucket, layout, k, s3.read_jsonl(bucket, batch_key)):
            record = human_label(item, responses, k=k, needed=needed, kind=kind, label_names=state.job.label_names,
                                 created=created)
            writer.write(record)
            intermediate.write(labeled_line(
                {task.source_key: item[task.source_key]}, record, attribute=settings.LabelAttributeName,
                label_names=state.job.label_names, task=task, job_name=state.job.name,
            ))
    return writer.count


def _batch(state: JobState) -> HumanBatch:
    assert state.batch is not None, "set by SelectSample or SelectAmbiguous"
    return state.batch


def write_training_sets(state: JobState) -> tuple[int, int]:
    bucket, layout, k = state.job.bucket, state.job.layout, state.iteration
    source_key = task_type(state.job.settings.TaskType).source_key
    with s3.JsonlWriter(bucket, layout.training_data(k)) as train, \
            ShardedJsonlWriter(bucket, layout.validation_data(k),  # shards for the transform's instances
                               rows_per_shard(_batch(state).calibration_size, state.job.settings)) as validation:
        for iteration in range(k + 1):
            for record in s3.read_jsonl(bucket, layout.consolidated(iteration)):
                example = {"id": record["id"], source_key: record[source_key], "label": record["label"]}
                if iteration == k and record["role"] == CALIBRATION:
                    validation.write(example)
                else:
                    train.write(example)
    return train.count, validation.count


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@checkpointed(after="ConsolidateAnnotations")
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    labeled = consolidate(state)
    state.counts.human_labeled += labeled
    state.counts.in_human_batch = 0
    job_metric(HUMAN_ANNOTATED, labeled, job=state.job.name)
    state.train_model = bool(state.job.automated and state.counts.pool > 0 and _batch(state).calibration_size > 0
                             and not out_of_reach.training_stopped(state.out_of_reach))
    state.sagemaker = None
    if state.train_model:
        train, validation = write_training_sets(state)
        state.sagemaker = sagemaker_step(state, validation_items=validation)
        logger.info("training sets written",
                    extra={"iteration": state.iteration, "train": train, "validation": validation})
    return state.dump()
