"""A trained model (model/): source-refs in, label/confidence/scores/sketch out."""
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ml_container import sketch, sources
from ml_container.backbone import normalise
from ml_container.torch_runtime import choose_device

from . import network

CHUNK = 128  # images decoded and run at once: bounds memory whatever the request's size


class Predictor:
    def __init__(self, model: network.Network, meta: dict):
        self.device = choose_device()
        self.network = model.to_device(self.device).eval()
        self.label_count = int(meta["label_count"])
        self.image_size = int(meta["image_size"])
        self._lock = threading.Lock()  # one forward pass at a time: torch already uses every core

    @classmethod
    def load(cls, model_dir: Path) -> "Predictor":
        return cls(*network.load(model_dir))

    def _run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2).to(self.device)
        with self._lock, torch.inference_mode():
            features = self.network.features(normalise(pixels), 0)
            scores = self.network.scores(self.network.logits(features))
            centred = features - self.network.feature_mean
        return scores.double().cpu().numpy(), centred.cpu().numpy()

    def predict(self, source_refs: Sequence[str]) -> list[dict]:
        """One prediction per image, in order; an unreadable image raises sources.ImageError.
        `sketch` lets the labeling loop spot near-duplicates (sketch.py)."""
        chunks = [source_refs[i:i + CHUNK] for i in range(0, len(source_refs), CHUNK)]
        predictions = []
        # Fetch the next chunk's images (S3 latency) while the network runs on this one.
        with ThreadPoolExecutor(1) as prefetch:
            pending = prefetch.submit(sources.load_many, chunks[0], self.image_size) if chunks else None
            for index in range(len(chunks)):
                images = pending.result()
                if index + 1 < len(chunks):
                    pending = prefetch.submit(sources.load_many, chunks[index + 1], self.image_size)
                scores, centred = self._run(images)
                predictions += [
                    {
                        "label": int(np.argmax(row)),
                        "confidence": float(np.max(row)),
                        "scores": [round(float(s), 6) for s in row],
                        "sketch": item_sketch,
                    }
                    for row, item_sketch in zip(scores, sketch.sketches(centred), strict=True)
                ]
        return predictions
