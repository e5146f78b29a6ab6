"""The text-classification container's train and serve entry points, run as local processes."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.unit.container_http import free_port, post, start_serve

CONTAINERS = Path(__file__).resolve().parents[2] / "containers"
CONTAINER = CONTAINERS / "text-classification"
sys.path[:0] = [str(CONTAINER), str(CONTAINERS / "common")]

from ml_container import sketch  # noqa: E402
from text_classifier import classifier  # noqa: E402

SPORT, COOKING, WEATHER = 0, 1, 2
TRAIN = {
    SPORT: [
        "The striker scored twice in the second half to win the match.",
        "The tennis champion lost the final in straight sets.",
        "Our goalkeeper saved a penalty in extra time.",
        "The marathon runner set a new course record this morning.",
        "The basketball team signed a new point guard for the season.",
        "The referee showed a red card after a late tackle.",
        "She won the gold medal in the 100 metres sprint.",
        "The cricket captain declared the innings at lunch.",
        "Fans cheered as the home side lifted the league trophy.",
        "The cyclist attacked on the final mountain climb of the tour.",
        "The coach was sacked after five straight defeats.",
        "The boxer knocked out his opponent in the third round.",
        "The rugby team scored a late try to draw the game.",
        "The striker scored twice in the second half to win the match.",  # duplicate text
    ],
    COOKING: [
        "Simmer the onions in butter until soft and golden.",
        "Knead the bread dough for ten minutes before it rises.",
        "Season the roast chicken with garlic, lemon and thyme.",
        "Whisk the eggs and sugar until pale, then fold in the flour.",
        "Bake the cake at 180 degrees for forty minutes.",
        "Chop the carrots and add them to the simmering soup.",
        "Marinate the beef overnight in soy sauce and ginger.",
        "Stir the risotto constantly while adding warm stock.",
        "Grate the parmesan over the pasta just before serving.",
        "Fry the garlic gently so it does not burn in the pan.",
        "Let the pastry rest in the fridge before rolling it out.",
        "Add a pinch of salt to the boiling water for the noodles.",
        "Roast the vegetables with olive oil and rosemary.",
    ],
    WEATHER: [
        "Heavy rain is expected across the north tomorrow afternoon.",
        "Forecasters warn of strong winds and thunderstorms tonight.",
        "Temperatures will drop below freezing overnight with frost.",
        "A heatwave will bring sunshine and highs of 35 degrees.",
        "Snow is forecast on high ground later this week.",
        "Fog will clear by midday leaving a dry, bright afternoon.",
        "The hurricane is moving slowly towards the coast.",
        "Scattered showers will spread east during the morning.",
        "A flood warning was issued after days of torrential rain.",
        "Cloudy skies with light drizzle are expected at the weekend.",
        "The met office predicts a mild and windy autumn day.",
        "Hail and gusts of wind battered the region overnight.",
        "Humidity will rise ahead of an evening thunderstorm.",
    ],
}
HELD_OUT = [
    ("The midfielder was injured during the cup final.", SPORT),
    ("The team won the championship after a penalty shootout.", SPORT),
    ("The golfer finished the tournament two shots ahead.", SPORT),
    ("Melt the chocolate slowly and pour it over the biscuits.", COOKING),
    ("Slice the tomatoes and drizzle them with vinegar.", COOKING),
    ("Simmer the sauce for twenty minutes and season with pepper.", COOKING),
    ("Expect sunny spells and a light breeze this afternoon.", WEATHER),
    ("Blizzards and icy roads are forecast for tomorrow.", WEATHER),
    ("Rain will turn heavier overnight with gale force winds.", WEATHER),
]
LABEL_COUNT = 4  # one more than the training data holds: scores must still be 4 wide


def _write_job(root: Path, hyperparameters: dict, items: list) -> None:
    config = root / "input" / "config"
    config.mkdir(parents=True)
    # SageMaker writes every hyperparameter value as a string.
    (config / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hyperparameters.items()}))
    channel = root / "input" / "data" / "train"
    channel.mkdir(parents=True)
    lines = [json.dumps({"id": i, "source": text, "label": label}) for i, (text, label) in enumerate(items)]
    (channel / "part-0.jsonl").write_text("\n".join(lines) + "\n")


def _training_items() -> list:
    return [(s, label) for label, sources in TRAIN.items() for s in sources]


def _run_train(root: Path, cache: Path = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, AUTOLABEL_ML_ROOT=str(root))
    env.pop("AUTOLABEL_EMBEDDING_CACHE", None)
    if cache is not None:
        env["AUTOLABEL_EMBEDDING_CACHE"] = str(cache)
    # Launched from an unrelated cwd: the script must find its own package.
    return subprocess.run(
        [sys.executable, str(CONTAINER / "train")], env=env, cwd=root, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ml")
    cache = tmp_path_factory.mktemp("cache")
    _write_job(root, {"label_count": LABEL_COUNT, "C": 10.0}, _training_items())
    started = time.monotonic()
    result = _run_train(root, cache)
    assert result.returncode == 0, result.stderr
    print(f"train: {time.monotonic() - started:.1f}s: {result.stdout.strip()}")
    return root, cache, result


def test_train_writes_model(trained):
    root, _, result = trained
    meta = json.loads((root / "model" / "meta.json").read_text())
    assert meta["label_count"] == LABEL_COUNT
    assert meta["training_items"] == len(_training_items())
    assert meta["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert (root / "model" / "classifier.joblib").is_file()
    assert not (root / "output" / "failure").exists()
    assert "3/4 classes" in result.stdout


def test_serve_predicts_held_out_sentences(trained):
    root, cache, _ = trained
    port = free_port()
    env = dict(os.environ, AUTOLABEL_ML_ROOT=str(root), SAGEMAKER_BIND_TO_PORT=str(port),
               AUTOLABEL_EMBEDDING_CACHE=str(cache))
    server = start_serve(CONTAINER, env, port)
    try:
        # Several mini-batches in a row, as batch transform sends them; extra keys are ignored.
        predictions = []
        for start in range(0, len(HELD_OUT), 4):
            body = "".join(json.dumps({"id": i, "source": s}) + "\n"
                           for i, (s, _) in enumerate(HELD_OUT[start:start + 4], start=start))
            status, content_type, text = post(port, body.encode())
            assert status == 200, text
            assert content_type == "application/jsonlines"
            predictions += [json.loads(line) for line in text.splitlines()]
        assert len(predictions) == len(HELD_OUT)
        for p in predictions:
            assert len(p["scores"]) == LABEL_COUNT
            assert sum(p["scores"]) == pytest.approx(1.0, abs=1e-4)
            assert p["scores"][3] == 0.0  # never seen in training
            assert p["label"] == int(np.argmax(p["scores"]))
            assert p["confidence"] == pytest.approx(max(p["scores"]), abs=1e-6)
            assert len(p["sketch"]) == 32 and int(p["sketch"], 16) >= 0  # 128 bits, hex
        assert len({p["sketch"] for p in predictions}) == len(HELD_OUT)
        correct = sum(p["label"] == label for p, (_, label) in zip(predictions, HELD_OUT, strict=True))
        assert correct >= len(HELD_OUT) - 1, predictions

        status, _, text = post(port, json.dumps({"source": HELD_OUT[0][0]}).encode(), "application/json")
        assert status == 200 and len(text.splitlines()) == 1 and json.loads(text)["label"] == SPORT
        assert json.loads(text)["sketch"] == predictions[0]["sketch"]  # the same item, the same sketch

        bad = json.dumps({"source": "fine"}) + "\n" + json.dumps({"text": "no source"}) + "\n"
        status, _, text = post(port, bad.encode())
        assert status == 400 and "line 2" in text
        status, _, text = post(port, b'{"source": "ok"}\n{not json\n')
        assert status == 400 and "line 2" in text
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=10)[0]
    assert server.returncode == 0, output


def test_second_run_reuses_embedding_cache(trained, tmp_path):
    _, cache, first = trained
    distinct = {s for s, _ in _training_items()}
    assert f"{len(distinct)} texts embedded, 0 cached" in first.stdout

    db = sqlite3.connect(cache / "embeddings.sqlite3")
    rows_before = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert rows_before >= len(distinct)  # the serve test may have added its held-out texts

    _write_job(tmp_path, {"label_count": LABEL_COUNT}, _training_items())
    second = _run_train(tmp_path, cache)
    assert second.returncode == 0, second.stderr
    assert f"0 texts embedded, {len(distinct)} cached" in second.stdout
    assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == rows_before
    (dimension,) = {len(blob) // 4 for (blob,) in db.execute("SELECT vector FROM embeddings")}
    assert dimension == 384
    db.close()


def test_missing_label_count_fails_cleanly(tmp_path):
    _write_job(tmp_path, {"C": 1.0}, _training_items())
    result = _run_train(tmp_path)
    assert result.returncode == 1
    assert "label_count" in (tmp_path / "output" / "failure").read_text()
    assert not (tmp_path / "model").exists()


def test_bad_training_line_names_the_line(tmp_path):
    _write_job(tmp_path, {"label_count": 2}, [("fine", 0), ("label out of range", 5)])
    result = _run_train(tmp_path)
    assert result.returncode == 1
    assert "part-0.jsonl line 2" in (tmp_path / "output" / "failure").read_text()


def test_scores_cover_classes_missing_from_training():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 8))
    y = np.array([1] * 10 + [3] * 10)
    X[y == 3] += 3.0
    scores = classifier.full_scores(classifier.fit(X, y, C=10.0), X, label_count=5)
    assert scores.shape == (20, 5)
    assert np.allclose(scores.sum(axis=1), 1.0)
    assert np.all(scores[:, [0, 2, 4]] == 0.0)
    assert (np.argmax(scores, axis=1) == y).mean() >= 0.9


def test_single_class_predicts_it_with_full_confidence():
    X = np.random.default_rng(0).normal(size=(5, 8))
    estimator = classifier.fit(X, np.full(5, 2), C=10.0)
    scores = classifier.full_scores(estimator, X[:3], label_count=3)
    assert scores.tolist() == [[0.0, 0.0, 1.0]] * 3


def _hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def test_sketch_distance_tracks_the_angle_between_embeddings():
    rng = np.random.default_rng(0)
    base = rng.normal(size=384)
    base /= np.linalg.norm(base)
    noise = rng.normal(size=384)
    noise -= noise @ base * base
    noise /= np.linalg.norm(noise)

    def at_cosine(c):
        return c * base + np.sqrt(1 - c * c) * noise

    same, close, related, orthogonal = sketch.sketches(np.stack(
        [base, at_cosine(0.995), at_cosine(0.9), at_cosine(0.0)]).astype(np.float32))
    (again,) = sketch.sketches(base[None, :].astype(np.float32))
    assert again == same  # fixed hyperplanes: the same embedding always gets the same sketch
    assert _hamming(same, close) <= 8 < _hamming(same, related)  # the default NearDuplicateMaxBits
    assert 40 <= _hamming(same, orthogonal) <= 88  # 64 expected at 90 degrees
    assert sketch.sketches(np.zeros((0, 384))) == []
