"""Scoring the real pipeline's output against the known answers (benchmarks/scoring.py, pipeline_report.py).

The pipeline benchmark's figures are only as good as its scorer: it must find the
labels where the job writes them (the job's LabelAttributeName, which report.json
names) and the answers where the data set writes them, judge only machine labels,
and judge boxes by the image quality the job's threshold promises. Hand-made lines
in Ground Truth's output format; no pipeline runs.
"""

import argparse
import json

import pytest

from benchmarks import pipeline_report
from benchmarks.pipeline import PIPELINE_DATASETS, _kept_rows, _sizes, _write
from benchmarks.scoring import ScoringError, score, score_files

DIGITS = [str(d) for d in range(10)]
SHAPES = {"0": "circle", "1": "square", "2": "triangle"}


def digit_answer(ref, label):
    return {"source-ref": ref, "category": label,
            "category-metadata": {"class-name": DIGITS[label], "human-annotated": "yes",
                                  "type": "groundtruth/image-classification"}}


def digit_output(ref, label, human, attribute="category"):
    return {"source-ref": ref, attribute: label,
            f"{attribute}-metadata": {"class-name": DIGITS[label], "confidence": 0.97,
                                      "human-annotated": "yes" if human else "no",
                                      "type": "groundtruth/image-classification"}}


def box(class_id, left, top, width, height):
    return {"class_id": class_id, "left": left, "top": top, "width": width, "height": height}


def boxes_line(ref, boxes, *, human, class_map=SHAPES, attribute="bounding-box"):
    return {"source-ref": ref,
            attribute: {"image_size": [{"width": 128, "height": 128, "depth": 3}], "annotations": boxes},
            f"{attribute}-metadata": {"objects": [{"confidence": 0.9} for _ in boxes], "class-map": class_map,
                                      "type": "groundtruth/object-detection",
                                      "human-annotated": "yes" if human else "no"}}


def unlabeled_line(ref, attribute):
    return {"source-ref": ref, f"{attribute}-metadata": {"failure-reason": "StoppingConditionMet: ..."}}


def test_classification_judges_machine_labels_only_and_under_the_jobs_attribute():
    answers = [digit_answer(f"images/{i}.png", i % 10) for i in range(5)]
    output = [
        digit_output("images/0.png", 0, human=True),
        digit_output("images/1.png", 1, human=False),
        digit_output("images/2.png", 7, human=False),  # wrong
        digit_output("images/3.png", 3, human=False),
        unlabeled_line("images/4.png", "category"),
    ]
    result = score(list(reversed(output)), answers, task_type="image-classification", attribute="category")
    assert (result.items, result.human_labeled, result.machine_labeled, result.unlabeled) == (5, 1, 3, 1)
    assert result.machine_accuracy == pytest.approx(2 / 3)
    assert result.output_accuracy == pytest.approx(3 / 4)
    assert result.met_target(0.95) is False and result.mean_quality is None


def test_output_and_answers_may_name_their_attributes_differently():
    answers = [digit_answer("a.png", 4)]
    output = [digit_output("a.png", 4, human=False, attribute="label")]
    assert score(output, answers, task_type="image-classification", attribute="label").machine_accuracy == 1.0


def test_a_job_without_machine_labels_is_not_judged_against_the_target():
    answers = [digit_answer("a.png", 4)]
    result = score([digit_output("a.png", 4, human=True)], answers, task_type="image-classification",
                   attribute="category")
    assert result.machine_accuracy is None and result.met_target(0.95) is None


def test_detection_scores_machine_labeled_images_by_box_quality_against_the_known_boxes():
    known = {"exact.png": [box(0, 10, 10, 20, 20)],
             "half.png": [box(1, 0, 0, 20, 20), box(2, 60, 60, 10, 10)],
             "human.png": [box(0, 5, 5, 5, 5)]}
    answers = [boxes_line(ref, boxes, human=True) for ref, boxes in known.items()]
    output = [
        boxes_line("exact.png", [box(0, 10, 10, 20, 20)], human=False),
        # The square drawn at half its width (IoU 0.5), the triangle missed: (0.5 + 0) / 2.
        boxes_line("half.png", [box(1, 0, 0, 10, 20)], human=False),
        boxes_line("human.png", [box(0, 5, 5, 5, 5)], human=True),
    ]
    result = score(output, answers, task_type="object-detection", attribute="bounding-box")
    assert (result.human_labeled, result.machine_labeled) == (1, 2)
    assert result.qualities == pytest.approx([1.0, 0.25])
    assert result.mean_quality == pytest.approx(0.625)
    assert result.met_target(0.6) is True and result.met_target(0.7) is False
    assert result.share_at_target_quality == 0.5
    assert result.mean_matched_iou == pytest.approx(0.75)
    assert result.machine_accuracy is None and result.output_accuracy is None


def test_detection_boxes_of_the_wrong_class_match_nothing():
    answers = [boxes_line("a.png", [box(0, 10, 10, 20, 20)], human=True)]
    output = [boxes_line("a.png", [box(1, 10, 10, 20, 20)], human=False)]
    result = score(output, answers, task_type="object-detection", attribute="bounding-box")
    assert result.qualities == [0.0] and result.mean_matched_iou is None and result.met_target(0.95) is False


def test_detection_classes_are_matched_by_name_through_each_sides_class_map():
    answers = [boxes_line("a.png", [box(2, 10, 10, 20, 20)], human=True)]  # triangle in the answers' map
    output = [boxes_line("a.png", [box(0, 10, 10, 20, 20)], human=False, class_map={"0": "triangle"},
                         attribute="label")]
    assert score(output, answers, task_type="object-detection", attribute="label").qualities == [1.0]


def test_an_output_item_missing_from_the_answers_is_an_error():
    with pytest.raises(ScoringError, match="not in the answers"):
        score([digit_output("new.png", 1, human=False)], [digit_answer("a.png", 1)],
              task_type="image-classification", attribute="category")


def report(task_type, attribute, thresholds, *, status="Completed"):
    """report.json as functions/labeling/logic/report.py writes it, with the fields the rows read."""
    return {
        "status": status, "taskType": task_type, "labelAttributeName": attribute,
        "iterations": [{"threshold": None if t is None else {"value": t}} for t in thresholds],
        "totals": {"trainingSeconds": 100.0, "transformSeconds": 20.0},
        "promise": {"measure": "mean IoU", "target": 0.6, "machineLabelsEstimated": 0.8,
                    "machineLabelsLowerBound": 0.7} if task_type == "object-detection" else
                   {"measure": "accuracy", "target": 0.95, "machineLabelsEstimated": 0.97,
                    "machineLabelsLowerBound": 0.951},
        "cost": {"humanUSD": 8.0, "instances": [{"costUSD": 0.1}, {"costUSD": 0.01}], "totalUSD": 8.11,
                 "allHumanUSD": 40.0, "savedUSD": 31.89},
    }


def test_score_files_reads_the_output_under_the_attribute_report_json_names(tmp_path):
    answers, output = tmp_path / "answers.manifest", tmp_path / "output.manifest"
    answers.write_text(json.dumps(digit_answer("a.png", 3)) + "\n")
    output.write_text(json.dumps(digit_output("a.png", 3, human=False, attribute="digit")) + "\n")
    result = score_files(output, answers, report("image-classification", "digit", [0.9]))
    assert result.machine_accuracy == 1.0


def classification_row(seed, machine_correct, machine, *, items=10):
    answers = [digit_answer(f"{i}.png", 1) for i in range(items)]
    output = [digit_output(f"{i}.png", 1 if i < machine_correct or i >= machine else 2, human=i >= machine)
              for i in range(items)]
    result = score(output, answers, task_type="image-classification", attribute="category")
    return pipeline_report.row("mnist", seed, result, report("image-classification", "category", [None, 0.8]), 60.0)


def test_a_row_joins_the_score_with_report_json():
    row = classification_row(0, machine_correct=6, machine=6)
    assert set(row) == set(pipeline_report.COLUMNS)
    assert (row["items"], row["machine_labeled"], row["human_labeled"], row["machine_share"]) == (10, 6, 4, 0.6)
    assert (row["machine_accuracy"], row["met_target"], row["target"]) == (1.0, True, 0.95)
    assert (row["iterations"], json.loads(row["thresholds"])) == (2, [None, 0.8])
    assert (row["cost_usd"], row["sagemaker_usd"], row["saved_share"]) == (8.11, 0.11, 0.7973)
    assert (row["estimated_by_job"], row["wall_seconds"]) == (0.97, 60.0)


def test_the_table_gives_mean_min_max_over_seeds_and_counts_runs_at_target():
    rows = [classification_row(0, 6, 6), classification_row(1, 4, 5),
            pipeline_report.failed_row("mnist", "image-classification", 2, "boom", 3.0)]
    boxes = score([boxes_line("a.png", [box(0, 0, 0, 10, 10)], human=False)],
                  [boxes_line("a.png", [box(0, 0, 0, 10, 20)], human=True)],
                  task_type="object-detection", attribute="bounding-box")
    rows.append(pipeline_report.row("shapes", 0, boxes, report("object-detection", "bounding-box", [0.7]), 90.0))
    table = pipeline_report.markdown(rows).splitlines()
    mnist = next(line for line in table if line.startswith("| mnist"))
    assert mnist.startswith("| mnist | image-classification | 0.95 | 2 (+1 failed) | 10 | 55.0 (50.0-60.0) | 4 | "
                            "90.0 (80.0-100.0) | - | - | - | 1/2 | 2.0 (2.0-2.0) | 8.11 (8.11-8.11) |")
    shapes = next(line for line in table if line.startswith("| shapes"))
    # One image at half the known box: quality 0.5, below the job's 0.6.
    assert shapes.startswith("| shapes | object-detection | 0.6 | 1 |")
    assert "| 0.500 (0.500-0.500) | 0.0 (0.0-0.0) | 0.500 (0.500-0.500) | 0/1 |" in shapes


def test_a_rerun_of_one_data_set_keeps_the_other_data_sets_rows_as_they_were_written(tmp_path):
    boxes = score([boxes_line("a.png", [box(0, 0, 0, 10, 10)], human=False)],
                  [boxes_line("a.png", [box(0, 0, 0, 10, 20)], human=True)],
                  task_type="object-detection", attribute="bounding-box")
    shapes_row = pipeline_report.row("shapes", 0, boxes, report("object-detection", "bounding-box", [0.7]), 90.0)
    failed = pipeline_report.failed_row("mnist", "image-classification", 1, "boom", 3.0)
    rows = [classification_row(0, 6, 6), failed, shapes_row]
    table = _write(rows, tmp_path)
    assert pipeline_report.read_rows(tmp_path / "pipeline-runs.csv") == rows  # types and all
    kept = _kept_rows(tmp_path, ["mnist"])
    assert kept == [shapes_row]
    assert pipeline_report.markdown(pipeline_report.read_rows(tmp_path / "pipeline-runs.csv")) == table
    assert _kept_rows(tmp_path / "elsewhere", ["mnist"]) == []


def test_sizes_are_given_per_data_set():
    assert _sizes(["mnist=1300", "shapes=200"]) == {"mnist": 1300, "shapes": 200}
    assert PIPELINE_DATASETS["shapes"].task_type == "object-detection"
    for bad in (["mnist"], ["cifar=10"], ["mnist=0"], ["digits=100"]):
        with pytest.raises(argparse.ArgumentTypeError):
            _sizes(bad)


def test_the_shapes_data_sets_own_boxes_score_perfectly_when_machine_labeled(tmp_path):
    from autolabel.images import write_shapes
    from benchmarks.scoring import read_lines

    files = write_shapes(tmp_path / "shapes", count=5, seed=3)
    answers = read_lines(files["answers"])
    output = [{"source-ref": line["source-ref"], "label": line["bounding-box"],
               "label-metadata": {**line["bounding-box-metadata"], "human-annotated": "no"}} for line in answers]
    result = score(output, answers, task_type="object-detection", attribute="label")
    assert result.machine_labeled == 5 and result.mean_quality == 1.0 and result.share_at_target_quality == 1.0
    assert len(result.matched_ious) == sum(len(line["bounding-box"]["annotations"]) for line in answers)
