"""The classifier on top of the embeddings, its full-width scores, and its on-disk form.

Training data may hold only some of the label_count classes, so scores are always
widened to label_count columns (zeros for classes never seen in training).
"""
import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

CLASSIFIER_FILE = "classifier.joblib"
META_FILE = "meta.json"


def fit(X: np.ndarray, y: np.ndarray, C: float):
    if len(np.unique(y)) == 1:
        # LogisticRegression refuses a single class; a constant predictor gives it probability 1.0.
        return DummyClassifier(strategy="prior").fit(X, y)
    return LogisticRegression(C=C, max_iter=2000).fit(X, y)


def full_scores(estimator, X: np.ndarray, label_count: int) -> np.ndarray:
    scores = np.zeros((len(X), label_count), dtype=np.float64)
    if len(X):
        scores[:, estimator.classes_.astype(int)] = estimator.predict_proba(X)
    return scores


def save(model_dir: Path, estimator, meta: dict[str, Any]) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, model_dir / CLASSIFIER_FILE)
    (model_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def load(model_dir: Path) -> tuple[Any, dict[str, Any]]:
    meta_path = model_dir / META_FILE
    if not meta_path.exists():
        raise FileNotFoundError(f"no trained model in {model_dir} ({META_FILE} missing)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    return joblib.load(model_dir / CLASSIFIER_FILE), meta
