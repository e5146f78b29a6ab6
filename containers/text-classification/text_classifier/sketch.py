"""A 128-bit SimHash sketch of each embedding, for the labeling loop's near-duplicate guard.

Bit i is the sign of the embedding's projection on fixed random hyperplane i. Two
embeddings at angle theta differ in each bit with probability theta / pi, so the number
of differing bits (Hamming distance) estimates their angle: 128 * theta / pi on average.
The hyperplanes come from a fixed seed, so the same item always gets the same sketch, in
every transform job and every iteration. Written as 32 hex digits (16 bytes, bit 0 the
most significant), small enough to travel with each pool item.
"""
import numpy as np

from .embedding import DIMENSION

BITS = 128
SEED = 20_240_601  # fixed forever: changing it makes sketches from different images incomparable
_HYPERPLANES = np.random.default_rng(SEED).standard_normal((DIMENSION, BITS))


def sketches(vectors: np.ndarray) -> list[str]:
    """One 32-hex-digit sketch per row of `vectors` (n x DIMENSION)."""
    if len(vectors) == 0:
        return []
    # float64, so that a projection's sign does not depend on float32 rounding.
    bits = np.asarray(vectors, dtype=np.float64) @ _HYPERPLANES >= 0
    return [row.tobytes().hex() for row in np.packbits(bits, axis=1)]
