"""Training the detector on the human-labeled images; the same code on GPU and CPU.

What trains depends on `fine_tune`:
  * "all" (the default on a GPU): every layer; each batch is seen in one of the `flip`
    views (VIEWS), drawn at random.
  * "top" (the default on a CPU): stages 0-2 keep ImageNet's weights and statistics, so
    their output (stride 8) is computed once per image and view and cached; the epochs
    train stages 3-4, the neck and the heads on it. The frozen stages hold most of the
    compute per image, so an epoch costs a fraction of a full pass.
The views are the augmentation: on 250 shapes scenes, mirrored views lifted held-out
quality from 0.83 to 0.86 (README).
Epochs stop early on a held-out split of the training images (lowest held-out loss, best
weights restored); the same split calibrates the box scores (confidence.py).
"""
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ml_container.backbone import channels_last, normalise
from ml_container.early_stopping import EarlyStopping
from ml_container.torch_runtime import seed_everything

from . import confidence, decode, losses, targets
from .network import Detector
from .quality import image_quality

MIN_HOLDOUT_ITEMS = 40  # below this many training images, no held-out split: fixed epochs, no calibration
FEATURE_BATCH = 128  # images per no-grad forward pass (feature caching, evaluation)
DEVICE_PIXEL_BYTES = 4 * 2**30  # "all": training images kept on the GPU up to this size (uint8)


@dataclass(frozen=True)
class Settings:
    image_size: int
    fine_tune: str  # "top" or "all" (resolved from "auto" by the caller)
    max_epochs: int
    patience: int
    batch_size: int
    learning_rate: float
    holdout_fraction: float
    seed: int
    flip: str  # a key of VIEWS
    score_cut: float
    max_boxes: int


@dataclass
class Report:
    device: str
    epochs: int = 0
    best_epoch: int = 0
    train_items: int = 0
    holdout_items: int = 0
    holdout_quality: float | None = None  # mean image quality of the held-out images
    holdout_ranking: dict = field(default_factory=dict)  # how well the image confidence ranks them
    score_calibration: list = field(default_factory=lambda: [1.0, 0.0])
    seconds: float = 0.0


@dataclass
class Truth:
    """An image's true boxes in input pixels: classes (n) and x1 y1 x2 y2 rows (n x 4)."""
    classes: np.ndarray
    boxes: np.ndarray


def candidate_count(max_boxes: int) -> int:
    """One candidate beyond the most that can be kept: the best dropped one counts towards the confidence."""
    return max_boxes + 1


def split(count: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if count < MIN_HOLDOUT_ITEMS or fraction <= 0:
        return np.arange(count), np.arange(0)
    order = np.random.default_rng(seed).permutation(count)
    held = int(round(fraction * count))
    return np.sort(order[held:]), np.sort(order[:held])


def _stack_targets(truths: list[Truth], label_count: int, size: int) -> dict[str, torch.Tensor]:
    built = [targets.build(t.boxes, t.classes, label_count, size) for t in truths]
    return {key: torch.from_numpy(np.stack([b[key] for b in built])) for key in ("heatmap", "box", "weight")}


# The training views of an image per `flip` setting: (mirrored left-right, mirrored upside down).
VIEWS = {
    "none": [(False, False)],
    "horizontal": [(False, False), (True, False)],
    "both": [(False, False), (True, False), (False, True), (True, True)],
}


def flip_pixels(pixels: torch.Tensor, view: tuple[bool, bool]) -> torch.Tensor:
    """N x C x H x W images (or maps) seen in `view`."""
    dims = [d for d, flipped in zip((-1, -2), view, strict=True) if flipped]
    return pixels.flip(dims) if dims else pixels


def flip_targets(plain: dict[str, torch.Tensor], size: int, view: tuple[bool, bool]) -> dict[str, torch.Tensor]:
    """The targets of the images seen in `view`: the maps mirrored, and the boxes' coordinates too."""
    weight = flip_pixels(plain["weight"].unsqueeze(1), view).squeeze(1)
    x1, y1, x2, y2 = flip_pixels(plain["box"], view).unbind(1)
    if view[0]:
        x1, x2 = size - x2, size - x1
    if view[1]:
        y1, y2 = size - y2, size - y1
    box = torch.stack([x1, y1, x2, y2], dim=1) * (weight > 0).unsqueeze(1)  # zeros where no box is drawn
    return {"heatmap": flip_pixels(plain["heatmap"], view), "box": box, "weight": weight}


class _Inputs:
    """What the trained part eats, per image and view (VIEWS): pixels ("all") or the frozen
    prefix's cached outputs for each view ("top"), and the matching targets."""

    def __init__(self, detector: Detector, images: np.ndarray, truths: list[Truth], label_count: int,
                 settings: Settings, device: torch.device):
        self.detector, self.settings, self.device = detector, settings, device
        self.views = VIEWS[settings.flip]
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2)  # N x 3 x S x S uint8
        plain = _stack_targets(truths, label_count, settings.image_size)
        self.targets = [flip_targets(plain, settings.image_size, view) for view in self.views]
        self.cached = settings.fine_tune == "top"
        if self.cached:
            detector.eval()
            self.data = [self._prefix(flip_pixels(pixels, view)) for view in self.views]
        else:
            # On the GPU when they fit in a fraction of a V100's 16 GB; else each batch is copied there.
            on_device = device.type == "cuda" and pixels.numel() <= DEVICE_PIXEL_BYTES
            self.data = [pixels.to(device) if on_device else pixels]

    def _prefix(self, pixels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            # Half precision halves the cache (40 x S/8 x S/8 values an image); the features are
            # batch-normalised activations of moderate size, well within its range.
            parts = [self.detector.prefix(normalise(pixels[start:start + FEATURE_BATCH].to(self.device))).half()
                     for start in range(0, len(pixels), FEATURE_BATCH)]
        return torch.cat(parts) if parts else torch.zeros(0)

    def forward(self, index: torch.Tensor, view: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Head outputs and pooled features of the images at `index`, seen in view number `view`."""
        if self.cached:
            features = self.data[view]
            return self.detector.rest(channels_last(features[index.to(features.device)].to(self.device).float()))
        pixels = self.data[0][index.to(self.data[0].device)].to(self.device)
        return self.detector(normalise(flip_pixels(pixels, self.views[view])))

    def batch_targets(self, index: torch.Tensor, view: int) -> dict[str, torch.Tensor]:
        return {k: v[index].to(self.device) for k, v in self.targets[view].items()}


def _trainable(detector: Detector, fine_tune: str) -> list[torch.nn.Parameter]:
    frozen = set()
    if fine_tune == "top":
        frozen = {id(p) for module in detector.frozen_modules() for p in module.parameters()}
    for p in detector.parameters():
        p.requires_grad_(id(p) not in frozen)
    return [p for p in detector.parameters() if p.requires_grad]


def _set_mode(detector: Detector, fine_tune: str, training: bool) -> None:
    detector.train(training)
    if fine_tune == "top":
        for module in detector.frozen_modules():  # keep ImageNet's running statistics
            module.eval()


def fit(detector: Detector, images: np.ndarray, truths: list[Truth], label_count: int, settings: Settings,
        device: torch.device, log: Callable[[str], None] = print) -> Report:
    """Train `detector` (pretrained backbone loaded) in place; returns what happened."""
    started = time.monotonic()
    seed_everything(settings.seed)
    fresh = Detector(label_count, [])  # the neck's and heads' initial weights from the seed, whatever ran before
    detector.load_state_dict({**fresh.state_dict(), **{k: v for k, v in detector.state_dict().items()
                                                      if k.startswith(("conv_stem.", "bn1.", "blocks.", "seen"))}})
    report = Report(device=str(device))
    detector.to_device(device)
    inputs = _Inputs(detector, images, truths, label_count, settings, device)
    train_idx, holdout_idx = (torch.from_numpy(i).long() for i in split(len(images), settings.holdout_fraction,
                                                                         settings.seed))
    report.train_items, report.holdout_items = len(train_idx), len(holdout_idx)
    generator = torch.Generator().manual_seed(settings.seed)

    parameters = _trainable(detector, settings.fine_tune)
    optimiser = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=1e-4)
    steps_per_epoch = max(1, len(train_idx) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=settings.learning_rate, total_steps=settings.max_epochs * steps_per_epoch,
        pct_start=0.15, anneal_strategy="cos")
    stopping = EarlyStopping(settings.patience)
    for epoch in range(1, settings.max_epochs + 1):
        _set_mode(detector, settings.fine_tune, True)
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        views = torch.randint(len(inputs.views), (steps_per_epoch,), generator=generator)
        total, seen = 0.0, 0
        for step in range(steps_per_epoch):
            # drop_last: a batch of one would make batch norm's statistics degenerate.
            index = order[step * settings.batch_size:(step + 1) * settings.batch_size]
            view = int(views[step])
            outputs, _ = inputs.forward(index, view)
            loss = losses.detection_loss(outputs, inputs.batch_targets(index, view))["total"]
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total, seen = total + float(loss.detach()) * len(index), seen + len(index)
        report.epochs = epoch
        message = f"epoch {epoch}: train loss {total / seen:.4f}"
        if len(holdout_idx):
            holdout_loss = _holdout_loss(detector, inputs, holdout_idx, settings.fine_tune)
            message += f", held-out loss {holdout_loss:.4f}"
            stopping.update(epoch, holdout_loss, detector)
        log(message)
        if len(holdout_idx) and stopping.should_stop:
            log(f"early stop: no held-out improvement for {settings.patience} epochs")
            break
    if stopping.restore(detector):
        report.best_epoch = stopping.best_epoch
    else:
        report.best_epoch = report.epochs

    _set_mode(detector, settings.fine_tune, False)
    everything = torch.arange(len(images))
    found, pooled = _candidates(detector, inputs, everything, candidate_count(settings.max_boxes))
    detector.feature_mean.copy_(pooled.mean(dim=0))  # the embeddings' centre, for the sketch
    if len(holdout_idx):
        held = [found[i] for i in holdout_idx.tolist()]
        held_truths = [truths[i] for i in holdout_idx.tolist()]
        calibration = confidence.fit_score_calibration(held, held_truths)
        detector.score_calibration.copy_(torch.tensor(calibration, dtype=torch.float32))
        report.score_calibration = list(calibration)
        detections = [confidence.detect(c, calibration, settings.score_cut, settings.max_boxes) for c in held]
        qualities = [image_quality(d.classes, d.boxes, t.classes, t.boxes) for d, t in zip(detections, held_truths,
                                                                                          strict=True)]
        report.holdout_quality = float(np.mean(qualities))
        report.holdout_ranking = confidence.ranking_report([d.confidence for d in detections], qualities)
    report.seconds = time.monotonic() - started
    return report


def _holdout_loss(detector: Detector, inputs: _Inputs, index: torch.Tensor, fine_tune: str) -> float:
    _set_mode(detector, fine_tune, False)
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(index), FEATURE_BATCH):
            part = index[start:start + FEATURE_BATCH]
            outputs, _ = inputs.forward(part, 0)
            total += float(losses.detection_loss(outputs, inputs.batch_targets(part, 0))["total"]) * len(part)
    return total / len(index)


def _candidates(detector: Detector, inputs: _Inputs, index: torch.Tensor,
                count: int) -> tuple[list[confidence.ImageCandidates], torch.Tensor]:
    """Each image's candidates (numpy, input pixels) and pooled stride-16 features, no gradient."""
    found, pooled = [], []
    with torch.no_grad():
        for start in range(0, len(index), FEATURE_BATCH):
            outputs, features = inputs.forward(index[start:start + FEATURE_BATCH], 0)
            found += confidence.split_images(decode.candidates(outputs, count))
            pooled.append(features)
    return found, torch.cat(pooled) if pooled else torch.zeros(0, detector.feature_mean.shape[0])
