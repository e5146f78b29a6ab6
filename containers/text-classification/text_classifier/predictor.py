"""A trained model (model/) plus the embedder: texts in, label/confidence/scores/sketch out."""
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ml_container import sketch

from . import classifier
from .embedding import MODEL_NAME, Embedder


class Predictor:
    def __init__(self, estimator, label_count: int, embedder: Embedder):
        self.estimator = estimator
        self.label_count = label_count
        self.embedder = embedder

    @classmethod
    def load(cls, model_dir: Path, embedder: Embedder) -> "Predictor":
        estimator, meta = classifier.load(model_dir)
        if meta.get("embedding_model") != MODEL_NAME:
            # Vectors from another model would be silently meaningless to this classifier.
            raise ValueError(
                f"model in {model_dir} was trained on {meta.get('embedding_model')!r} embeddings, "
                f"this image computes {MODEL_NAME!r}"
            )
        return cls(estimator, int(meta["label_count"]), embedder)

    def predict(self, texts: Sequence[str]) -> list[dict]:
        """One prediction per text; `sketch` lets the labeling loop spot near-duplicates (sketch.py)."""
        vectors = self.embedder.encode(texts)
        scores = classifier.full_scores(self.estimator, vectors, self.label_count)
        return [
            {
                "label": int(np.argmax(row)),
                "confidence": float(np.max(row)),
                "scores": [round(float(s), 6) for s in row],
                "sketch": item_sketch,
            }
            for row, item_sketch in zip(scores, sketch.sketches(vectors), strict=True)
        ]
