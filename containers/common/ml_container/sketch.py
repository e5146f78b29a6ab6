"""A 128-bit SimHash sketch of each embedding, for the labeling loop's near-duplicate guard.

Bit i is the sign of the embedding's projection on fixed random hyperplane i. Two
embeddings at angle theta differ in each bit with probability theta / pi, so the number
of differing bits (Hamming distance) estimates their angle: 128 * theta / pi on average.
The hyperplanes come from a fixed seed, so the same item always gets the same sketch, in
every transform job and every iteration. Written as 32 hex digits (16 bytes, bit 0 the
most significant), small enough to travel with each pool item.

Image embeddings are pooled ReLU6 features, all >= 0: the image containers centre them
(subtract their mean over the training images) before sketching, or unrelated images
would all sit in one orthant at small angles from each other and look like near-duplicates.
"""
from functools import lru_cache

import numpy as np

BITS = 128
SEED = 20_240_601  # fixed forever: changing it makes sketches from different jobs incomparable


@lru_cache(maxsize=4)
def hyperplanes(width: int) -> np.ndarray:
    """width x BITS; drawn from SEED alone, so every container gets the same planes for a width."""
    return np.random.default_rng(SEED).standard_normal((width, BITS))


def sketches(vectors: np.ndarray) -> list[str]:
    """One 32-hex-digit sketch per row of `vectors` (n x width)."""
    vectors = np.asarray(vectors, dtype=np.float64)  # float64: a sign must not depend on float32 rounding
    if len(vectors) == 0:
        return []
    bits = vectors @ hyperplanes(vectors.shape[1]) >= 0
    return [row.tobytes().hex() for row in np.packbits(bits, axis=1)]
