"""Which candidates become boxes, how sure the model is of each, and of the image.

The pipeline accepts an image's boxes when its image-level confidence is at or above a
threshold calibrated on human-labeled images (functions/labeling/logic/box_quality.py),
so the confidence's job is to rank images by the quality of their boxes.
"""
from dataclasses import dataclass

import numpy as np

from . import decode
from .quality import iou_matrix, match

MATCH_IOU = 0.5  # a candidate is a hit when it matches a true box of its class at this IoU (PASCAL VOC's)
# Peaks of two classes on one object draw nearly the same box twice; one of them is wrong and
# counts as a spurious box, lowering the image's quality. Only the better one is kept (a
# class-agnostic NMS; CenterNet's max-pool removes duplicates within a class only). On 600
# held-out shapes scenes, mean quality 0.837 -> 0.863 after 250 training scenes, 0.880 -> 0.896
# after 1,000; any threshold from 0.5 to 0.9 did the same, and different-class objects
# rarely overlap this much. The suppressed candidate counts as dropped in the confidence.
DUPLICATE_IOU = 0.8
_EPS = 1e-6


@dataclass
class ImageCandidates:
    scores: np.ndarray  # K, best first
    classes: np.ndarray  # K
    boxes: np.ndarray  # K x 4, x1 y1 x2 y2, input pixels
    quality: np.ndarray  # K, estimated IoU


@dataclass
class Detection:
    classes: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray  # calibrated, per kept box
    confidence: float  # image level


def split_images(found: decode.Candidates) -> list[ImageCandidates]:
    arrays = [found.scores.cpu().numpy(), found.classes.cpu().numpy(), found.boxes.cpu().numpy(),
              found.quality.cpu().numpy()]
    return [ImageCandidates(*(a[i] for a in arrays)) for i in range(len(arrays[0]))]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def calibrate(scores: np.ndarray, calibration) -> np.ndarray:
    slope, intercept = calibration
    return 1.0 / (1.0 + np.exp(-(slope * _logit(scores) + intercept)))


def hits(candidates: ImageCandidates, classes: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per candidate, whether it is matched to a true box at IoU >= MATCH_IOU (greedy, best score first)."""
    result = np.zeros(len(candidates.scores), dtype=bool)
    taken: set[int] = set()
    for k in range(len(candidates.scores)):
        pairs = match(candidates.classes[k:k + 1], candidates.boxes[k:k + 1], classes, boxes)
        best = max(((t, o) for _, t, o in pairs if t not in taken and o >= MATCH_IOU), key=lambda p: p[1],
                   default=None)
        if best is not None:
            taken.add(best[0])
            result[k] = True
    return result


def fit_score_calibration(held: list[ImageCandidates], truths: list) -> tuple[float, float]:
    """Platt scaling of the centre score: slope and intercept on its logit so that a candidate's
    calibrated score estimates P(it is a hit), fitted by Newton's method on the held-out
    candidates, lightly regularised towards the identity (a separable split would send it to infinity)."""
    x = np.concatenate([_logit(c.scores) for c in held]) if held else np.zeros(0)
    y = np.concatenate([hits(c, t.classes, t.boxes) for c, t in zip(held, truths, strict=True)]).astype(float) \
        if held else np.zeros(0)
    if len(x) == 0 or y.min() == y.max():
        return 1.0, 0.0
    params, prior = np.array([1.0, 0.0]), np.array([1.0, 0.0])
    strength = 1.0  # a Gaussian prior worth about one observation per parameter
    design = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(design @ params)))
        gradient = design.T @ (p - y) + strength * (params - prior)
        hessian = (design * (p * (1 - p))[:, None]).T @ design + strength * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        params = params - step
        if np.abs(step).max() < 1e-8:
            break
    return float(params[0]), float(params[1])


def image_confidence(kept_scores: np.ndarray, kept_quality: np.ndarray, dropped_scores: np.ndarray) -> float:
    """The image's expected quality (box_quality.py's definition) under the model's own estimates.

    Quality = sum of matched IoUs / max(#predicted, #true). A kept box is a hit with
    probability s (its calibrated score) at IoU q (the quality head's estimate), and a
    dropped candidate is an object the model missed with probability s; so the expected
    matched IoU is sum(s * q) over kept boxes, and the boxes to account for are the kept
    ones plus the expected misses. With no box kept, the image is right only if nothing
    is there: 1 - the highest dropped score (box_quality.py's recommendation).

    Measured on 600 held-out shapes scenes (README), after training on 250 / 1,000 scenes:
    box_quality's recommendation (lowest kept score; 1 - highest dropped score when none is
    kept) ranked images with Spearman 0.21 / 0.22 against their true quality, its most
    confident half had mean quality 0.890 / 0.912; this estimate 0.31 / 0.42 and 0.898 / 0.924
    (without the quality head's term 0.24 / 0.27, without the expected misses 0.30 / 0.38);
    the most confident 70% and 90% scored the same either way. Its mean, 0.80 / 0.85, sits a
    little under the true mean quality, 0.87 / 0.90.
    """
    if len(kept_scores) == 0:
        return float(1.0 - dropped_scores.max()) if len(dropped_scores) else 1.0
    expected_boxes = len(kept_scores) + float(dropped_scores.sum())
    return float(np.sum(kept_scores * kept_quality) / expected_boxes)


def _duplicates(boxes: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Kept candidates (best first) that cover a better kept one at IoU > DUPLICATE_IOU, whatever the class."""
    index = np.flatnonzero(kept)
    overlaps = iou_matrix(boxes[index], boxes[index])
    duplicate = np.zeros(len(kept), dtype=bool)
    for later in range(1, len(index)):
        duplicate[index[later]] = bool((overlaps[later, :later][~duplicate[index[:later]]] > DUPLICATE_IOU).any())
    return duplicate


def detect(candidates: ImageCandidates, calibration, cut: float, max_boxes: int) -> Detection:
    """The kept boxes (calibrated score >= cut, no duplicate, the best max_boxes) and the image confidence."""
    scores = calibrate(candidates.scores, calibration)
    kept = scores >= cut
    kept &= ~_duplicates(candidates.boxes, kept)
    kept &= np.cumsum(kept) <= max_boxes
    return Detection(candidates.classes[kept], candidates.boxes[kept], scores[kept],
                     image_confidence(scores[kept], candidates.quality[kept], scores[~kept]))


def ranking_report(confidences: list[float], qualities: list[float]) -> dict:
    """How well confidence orders images by quality: Spearman's rho, and the mean quality of
    the most confident 50 / 70 / 90 % of images (the pipeline accepts from the top)."""
    c, q = np.asarray(confidences, dtype=float), np.asarray(qualities, dtype=float)
    if len(c) < 2:
        return {}
    order = np.argsort(-c, kind="stable")
    report = {f"top{share}": float(q[order[:max(1, round(len(q) * share / 100))]].mean()) for share in (50, 70, 90)}
    ranks_c, ranks_q = _ranks(c), _ranks(q)
    spread = ranks_c.std() * ranks_q.std()
    report["spearman"] = float(((ranks_c - ranks_c.mean()) * (ranks_q - ranks_q.mean())).mean() / spread) \
        if spread > 0 else 0.0
    return report


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share theirs)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):
        same = values == value
        ranks[same] = ranks[same].mean()
    return ranks
