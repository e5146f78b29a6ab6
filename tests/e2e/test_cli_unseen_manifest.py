"""`autolabel run` on a text manifest it has never seen, with its own labels file and answers."""

from __future__ import annotations

import json
import random

import pytest

from autolabel.cli import main
from tests.conftest import read_jsonl

pytestmark = pytest.mark.e2e

TOPICS = {
    "football": (["The striker", "Our goalkeeper", "The home side", "The referee", "The midfielder", "The coach"],
                 ["scored a late penalty", "saved a free kick", "was shown a red card", "praised the defenders",
                  "celebrated the league title", "missed an open goal"],
                 ["in the derby", "before half time", "at the stadium", "in the cup final", "during extra time"]),
    "cooking": (["The chef", "My grandmother", "The baker", "Our cook", "The pastry team", "A home cook"],
                ["simmered the tomato sauce", "kneaded the bread dough", "roasted the garlic", "whisked the eggs",
                 "seasoned the soup with pepper", "baked a lemon tart"],
                ["in a cast iron pan", "for the dinner party", "with fresh basil", "in the oven", "for an hour"]),
    "weather": (["The forecast", "A cold front", "The storm", "Heavy fog", "The heatwave", "Light rain"],
                ["brought strong winds", "will reach the coast", "raised temperatures", "closed the mountain pass",
                 "left snow on the hills", "cleared by the afternoon"],
                ["across the north", "over the weekend", "this morning", "near the valley", "by tonight"]),
}


def _write_job(folder, items=1300, seed=7):
    rng = random.Random(seed)
    names = list(TOPICS)
    seen, rows = set(), []
    while len(rows) < items:
        topic = rng.choice(names)
        subjects, verbs, places = TOPICS[topic]
        text = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(places)} (report {rng.randint(1, 999)})."
        if text not in seen:
            seen.add(text)
            rows.append((text, topic))
    manifest, answers, labels = folder / "notes.manifest", folder / "gold.manifest", folder / "topics.json"
    labels.write_text(json.dumps({"document-version": "2018-11-28", "labels": [{"label": n} for n in names]}))
    manifest.write_text("".join(json.dumps({"source": t, "row": i}) + "\n" for i, (t, _) in enumerate(rows)))
    answers.write_text("".join(json.dumps({
        "source": t, "topic": names.index(topic), "topic-metadata": {"class-name": topic, "human-annotated": "yes"},
    }) + "\n" for t, topic in rows))
    return manifest, answers, labels, {t: names.index(topic) for t, topic in rows}


def test_cli_labels_a_new_text_manifest_end_to_end(tmp_path, capsys):
    manifest, answers, labels, gold = _write_job(tmp_path)
    code = main(["run", str(manifest), "--task-type", "text-classification", "--labels", str(labels),
                 "--workforce", "simulated", "--answers", str(answers), "--output", str(tmp_path / "out"),
                 "--job-name", "notes-2026", "--seed", "3", "--workdir", str(tmp_path / "work")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "iteration 1" in printed and "job notes-2026 complete" in printed
    output = read_jsonl(tmp_path / "out" / "manifests" / "output" / "output.manifest")
    assert [line["row"] for line in output] == list(range(1300))
    machine = [line for line in output if line["label-metadata"]["human-annotated"] == "no"]
    assert len(machine) > 300
    assert sum(line["label"] == gold[line["source"]] for line in machine) / len(machine) >= 0.95
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["counters"]["TotalLabeled"] == 1300 and report["settings"]["Seed"] == 3


def test_cli_refuses_answers_that_do_not_cover_the_manifest(tmp_path, capsys):
    manifest, answers, labels, _ = _write_job(tmp_path, items=20)
    answers.write_text("".join(answers.read_text().splitlines(keepends=True)[:-2]))
    code = main(["run", str(manifest), "--task-type", "text-classification", "--labels", str(labels),
                 "--answers", str(answers), "--output", str(tmp_path / "out")])
    assert code == 1
    assert "has no answer for 2 manifest line(s), e.g. line(s) [19, 20]" in capsys.readouterr().err


def test_cli_names_a_bad_labels_file(tmp_path, capsys):
    manifest, answers, labels, _ = _write_job(tmp_path, items=5)
    labels.write_text(json.dumps({"labels": [{"label": "only-one"}]}))
    code = main(["run", str(manifest), "--task-type", "text-classification", "--labels", str(labels),
                 "--answers", str(answers), "--output", str(tmp_path / "out")])
    assert code == 1
    assert f"{labels} is invalid: labels: List should have at least 2 items" in capsys.readouterr().err
