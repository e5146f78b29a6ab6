"""A trained model (model/): source-refs in, Ground Truth bounding-box labels out.

Per image: {"label": {"image_size", "annotations"}, "objects": [{"confidence"}] (one per
annotation, same order), "confidence" (image level, confidence.py), "sketch"}.
"""
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ml_container import sketch, sources
from ml_container.backbone import normalise
from ml_container.torch_runtime import choose_device

from . import annotations, confidence, decode, network
from .fit import candidate_count

CHUNK = 128  # images decoded and run at once: bounds memory whatever the request's size


class Predictor:
    def __init__(self, detector: network.Detector, meta: dict):
        self.device = choose_device()
        self.detector = detector.to_device(self.device).eval()
        self.label_count = int(meta["label_count"])
        self.image_size = int(meta["image_size"])
        self.score_cut = float(meta["score_cut"])
        self.max_boxes = int(meta["max_boxes"])
        self.calibration = tuple(float(v) for v in detector.score_calibration.tolist())
        self._lock = threading.Lock()  # one forward pass at a time: torch already uses every core

    @classmethod
    def load(cls, model_dir: Path) -> "Predictor":
        return cls(*network.load(model_dir))

    def describe(self) -> str:
        return f"{self.label_count} labels, {self.image_size} px, {self.device}"

    def _run(self, images: np.ndarray) -> tuple[list[confidence.ImageCandidates], np.ndarray]:
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2).to(self.device)
        with self._lock, torch.inference_mode():
            outputs, pooled = self.detector(normalise(pixels))
            found = confidence.split_images(decode.candidates(outputs, candidate_count(self.max_boxes)))
            centred = pooled - self.detector.feature_mean
        return found, centred.cpu().numpy()

    def _answer(self, found: confidence.ImageCandidates, width: int, height: int, item_sketch: str) -> dict:
        detection = confidence.detect(found, self.calibration, self.score_cut, self.max_boxes)
        return {
            "label": annotations.answer(detection.classes, detection.boxes, width, height, self.image_size),
            "objects": [{"confidence": round(float(s), 6)} for s in detection.scores],
            "confidence": round(detection.confidence, 6),
            "sketch": item_sketch,
        }

    def predict(self, source_refs: Sequence[str]) -> list[dict]:
        """One answer per image, in order; an unreadable image raises sources.ImageError.
        `sketch` lets the labeling loop spot near-duplicates (ml_container/sketch.py)."""
        chunks = [source_refs[i:i + CHUNK] for i in range(0, len(source_refs), CHUNK)]
        answers = []
        # Fetch and decode the next chunk's images (S3 latency) while the network runs on this one.
        with ThreadPoolExecutor(1) as prefetch:
            pending = prefetch.submit(sources.load_many_with_sizes, chunks[0], self.image_size) if chunks else None
            for index in range(len(chunks)):
                images, sizes = pending.result()
                if index + 1 < len(chunks):
                    pending = prefetch.submit(sources.load_many_with_sizes, chunks[index + 1], self.image_size)
                found, centred = self._run(images)
                answers += [self._answer(f, int(w), int(h), s)
                            for f, (w, h), s in zip(found, sizes, sketch.sketches(centred), strict=True)]
        return answers
