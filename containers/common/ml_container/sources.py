"""Images named by a manifest's `source-ref`: s3://bucket/key, a local path or a file:// URI.

S3 objects are read with a plain boto3 client, so the SageMaker role's credentials apply
in AWS and the standard AWS_ENDPOINT_URL_S3 variable points it at another endpoint
(the local cloud's S3 server). Reads are I/O-bound, so a thread pool fetches many at once;
Pillow's decode and resize release the GIL, so decoding runs in the same threads.
"""
import io
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
from PIL import Image, ImageOps

from .records import ItemError

WORKERS = 16
# Input resolution from the median short side of the training images. Tiny images (digits,
# MNIST, CIFAR: up to 64 px) are upscaled to 96 px: the ImageNet features need objects a few
# dozen pixels wide, and on 300-1,000 digit images 96 px beat 64 px by 2-4 accuracy points
# (8 x 8 digits: 0.92 -> 0.94; MNIST: 0.87 -> 0.91 at 300 items, 0.95 -> 0.97 at 1,000) at
# about twice the CPU time, while 128 px gained under a point more for twice as much again.
# Mid-size images (up to 160 px) get 128 px, photos 224, the resolution the backbone was trained at.
SIZE_STEPS = ((64, 96), (160, 128))
PHOTO_SIZE = 224

_client = None
_client_lock = threading.Lock()


class ImageError(ItemError):
    """An image that cannot be read or decoded; the message names its source-ref."""

    def __init__(self, message: str, source_ref: str):
        super().__init__(message, source_ref)
        self.source_ref = source_ref


def _s3():
    global _client
    with _client_lock:  # creating a boto3 client is not thread-safe; using one is
        if _client is None:
            import boto3  # only when an s3:// source-ref turns up: local runs may lack it
            from botocore.config import Config

            _client = boto3.client("s3", config=Config(max_pool_connections=WORKERS,
                                                      retries={"mode": "standard", "max_attempts": 5}))
        return _client


def read_bytes(source_ref: str) -> bytes:
    try:
        parsed = urlparse(source_ref)
        if parsed.scheme == "s3":
            if not parsed.netloc or not parsed.path.lstrip("/"):
                raise ValueError("expected s3://bucket/key")
            return _s3().get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
        if parsed.scheme == "file":
            return Path(unquote(parsed.path)).read_bytes()
        if parsed.scheme == "":
            return Path(source_ref).read_bytes()
        raise ValueError(f"unsupported scheme {parsed.scheme!r}; use s3://, file:// or a path")
    except Exception as exc:
        # botocore's ClientError text already says which operation failed and why (NoSuchKey, AccessDenied).
        raise ImageError(f"cannot read image {source_ref!r}: {type(exc).__name__}: {exc}", source_ref) from None


def stored_size(source_ref: str, data: bytes) -> tuple[int, int]:
    """(width, height) as stored, before any EXIF rotation; only the header is read."""
    try:
        return Image.open(io.BytesIO(data)).size
    except Exception as exc:
        raise ImageError(f"cannot decode image {source_ref!r}: {type(exc).__name__}: {exc}", source_ref) from None


def short_side(source_ref: str, data: bytes) -> int:
    return min(stored_size(source_ref, data))


def long_side(source_ref: str, data: bytes) -> int:
    return max(stored_size(source_ref, data))


def auto_size(short_sides: Sequence[int]) -> int:
    """The input resolution for a data set, from the median short side of its images."""
    median = float(np.median(short_sides)) if len(short_sides) else PHOTO_SIZE
    for limit, size in SIZE_STEPS:
        if median <= limit:
            return size
    return PHOTO_SIZE


def decode(source_ref: str, data: bytes, size: int) -> np.ndarray:
    """size x size x 3 uint8 RGB. The whole image is squeezed to a square rather than
    cropped: a whole-image label may be about something near the border."""
    return decode_with_size(source_ref, data, size)[0]


# EXIF orientations that turn the stored image by 90 or 270 degrees (width and height swap).
_QUARTER_TURNS = {5, 6, 7, 8}
_ORIENTATION_TAG = 0x0112


def decode_with_size(source_ref: str, data: bytes, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """decode's pixels and the (width, height) of the upright image at full resolution: the
    frame that boxes are drawn in, whatever the squeeze to size x size or a JPEG draft did."""
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if image.getexif().get(_ORIENTATION_TAG) in _QUARTER_TURNS:
            width, height = height, width
        if image.format == "JPEG":
            # The JPEG decoder can downscale by 1/2..1/8 on the way (never below `size`): big photos decode fast.
            image.draft("RGB", (size, size))
        image.load()
        # Photos from phones store their rotation in EXIF; labelers saw them upright.
        image = ImageOps.exif_transpose(image)
        if image.mode.startswith(("I", "F")):
            image = _to_8bit(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            # Transparent pixels keep arbitrary colours (often black): show them on white, as a viewer does.
            image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
        rgb = image.convert("RGB")  # grayscale, palette, CMYK alike
    except Exception as exc:  # Pillow raises many types (UnidentifiedImageError, OSError, DecompressionBombError)
        raise ImageError(f"cannot decode image {source_ref!r}: {type(exc).__name__}: {exc}", source_ref) from None
    return np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8), (width, height)


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float grayscale (scans, microscopy) as 8-bit: Pillow's own convert
    clips every value over 255 to white."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        low, high = 0.0, 65535.0
    else:  # no fixed range: stretch what is there
        low, high = float(values.min()), float(values.max())
    scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


def fetch_many(source_refs: Sequence[str]) -> list[bytes]:
    """The bytes of every image, in order; the first unreadable one (in order) raises ImageError."""
    if not source_refs:
        return []
    with ThreadPoolExecutor(min(WORKERS, len(source_refs))) as pool:
        return list(pool.map(read_bytes, source_refs))


def load_many(source_refs: Sequence[str], size: int, blobs: Sequence[bytes] | None = None) -> np.ndarray:
    """n x size x size x 3 uint8, fetched (unless `blobs` are given) and decoded in parallel."""
    return load_many_with_sizes(source_refs, size, blobs)[0]


def load_many_with_sizes(source_refs: Sequence[str], size: int,
                         blobs: Sequence[bytes] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """load_many's pixels and each image's full-resolution (width, height), n x 2 int."""
    if not source_refs:
        return np.zeros((0, size, size, 3), dtype=np.uint8), np.zeros((0, 2), dtype=np.int64)

    def one(index: int) -> tuple[np.ndarray, tuple[int, int]]:
        data = blobs[index] if blobs is not None else read_bytes(source_refs[index])
        return decode_with_size(source_refs[index], data, size)

    with ThreadPoolExecutor(min(WORKERS, len(source_refs))) as pool:
        decoded = list(pool.map(one, range(len(source_refs))))
    return np.stack([pixels for pixels, _ in decoded]), np.array([wh for _, wh in decoded], dtype=np.int64)
