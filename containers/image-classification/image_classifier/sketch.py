"""A 128-bit SimHash sketch of each image embedding, for the labeling loop's near-duplicate guard.

The method of text_classifier/sketch.py: bit i is the sign of the embedding's projection on
fixed random hyperplane i, so the Hamming distance between two sketches estimates the angle
between the embeddings (128 * theta / pi bits on average). The embedding is the network's
pooled features (FEATURES wide) minus their mean over the training images (predictor.py):
after ReLU6 every feature is >= 0, so uncentred embeddings all sit in one orthant at small
angles from each other, and unrelated images would look like near-duplicates.
Written as 32 hex digits (16 bytes, bit 0 the most significant).
"""
import numpy as np

from .backbone import FEATURES

BITS = 128
SEED = 20_240_601  # fixed forever, as in the text container: the same embedding, the same sketch
_HYPERPLANES = np.random.default_rng(SEED).standard_normal((FEATURES, BITS))


def sketches(vectors: np.ndarray) -> list[str]:
    """One 32-hex-digit sketch per row of `vectors` (n x FEATURES)."""
    if len(vectors) == 0:
        return []
    # float64, so that a projection's sign does not depend on float32 rounding.
    bits = np.asarray(vectors, dtype=np.float64) @ _HYPERPLANES >= 0
    return [row.tobytes().hex() for row in np.packbits(bits, axis=1)]
