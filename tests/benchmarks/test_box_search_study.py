"""The box-search study on a detection job's output folder (benchmarks/box_search_study.py).

The folder is laid out as the job writes it (the pool as shards with manifest ids, batch
transform's `.out` beside each), as in test_box_oracle.py, with two iterations whose true
qualities are known: one where every rule must label the whole pool, one where none may.
"""

import json

from benchmarks import box_search_study
from tests.benchmarks.test_box_oracle import _prediction, _write_jsonl, box
from tests.benchmarks.test_pipeline_scoring import boxes_line

GOLD = box(0, 10, 10, 20, 20)
MISSED = box(0, 90, 90, 20, 20)  # no overlap with GOLD: quality 0


def _job(root, pools):
    """pools[k]: (confidence, exact box or not) per pool image of iteration k; ids run on across iterations."""
    output = root / "digit-scenes-seed-0" / "output"
    answers, next_id = [], 0
    for k, pool in enumerate(pools):
        items, predictions = [], []
        for confidence, exact in pool:
            items.append({"id": next_id, "source-ref": f"s3://b/{next_id}.png"})
            predictions.append(_prediction([GOLD if exact else MISSED], confidence))
            answers.append(boxes_line(f"images/{next_id}.png", [GOLD], human=True))
            next_id += 1
        _write_jsonl(output / "activelearning" / f"iteration-{k}" / "pool" / "part-00000.jsonl", items)
        _write_jsonl(output / "inference" / f"iteration-{k}" / "pool" / "part-00000.jsonl.out", predictions)
    data = output.parent / "data"
    data.mkdir()
    (data / "answers.manifest").write_text("".join(json.dumps(line) + "\n" for line in answers))
    return output


def test_each_rule_is_scored_against_the_oracle_on_the_jobs_own_pools(tmp_path):
    # Iteration 0: 160 exact images (confidence 0.8-0.96), 40 missed at 0.1: mean 0.8, the oracle takes all 200.
    good = [(0.8 + 0.001 * i, True) for i in range(160)] + [(0.1, False)] * 40
    # Iteration 1: every box missed: quality 0 everywhere, nothing may be labeled.
    hopeless = [(0.9, False)] * 120
    rows = box_search_study.study(_job(tmp_path, [good, hopeless]), size=60, draws=5)

    by_key = {(row["iteration"], row["rule"]): row for row in rows}
    assert set(by_key) == {(k, rule) for k in (0, 1) for rule in box_search_study.RULES}
    first = by_key[0, "product"]
    assert (first["pool"], first["oracle"], first["pool_mean"]) == (200, 200, 0.8)
    assert first["ratio"] > 0.8 and first["below"] == 0.0
    for rule in box_search_study.RULES:
        assert by_key[1, rule]["oracle"] == 0 and by_key[1, rule]["ratio"] is None
        assert by_key[1, rule]["nothing"] == 1.0

    table = box_search_study.markdown(rows, 60, 5)
    assert "| digit-scenes-seed-0 | 0 | 200 | 0.800 | 200 | product |" in table
    assert "| digit-scenes-seed-0 | 1 | 120 | 0.000 | 0 | mixture | - | 0.0 | 100.0 |" in table


def test_a_later_start_cannot_label_a_cut_smaller_than_its_first_test():
    # 30 perfect images at the top, then misses: the product's first test (26 images) passes and it labels a
    # top cut; the later start's first test holds at least 51 images, 21 of them misses (mean < 0.6), and fails.
    images = [(0.99 - 0.001 * i, 1.0) for i in range(30)] + [(0.5 - 0.001 * i, 0.0) for i in range(70)]
    threshold = box_search_study.product(images, "seed")
    assert threshold is not None and sum(confidence >= threshold for confidence, _ in images) >= 30
    assert box_search_study.mixture(images, "seed") is not None
    assert box_search_study.later_start(images, "seed") is None
