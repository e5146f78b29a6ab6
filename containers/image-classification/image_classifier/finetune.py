"""Fine-tuning the pretrained network on the human-labeled images; the same code on GPU and CPU.

What trains depends on `fine_tune`:
  * "all": every layer, with light augmentation (random shift and zoom; no flips, which
    would turn a 2 into a mirrored glyph or a left arrow into a right one). Adapting the
    early filters pays on images far from ImageNet (digits, scans, medical).
  * "top": the first FROZEN_STAGES stages keep ImageNet's weights and running statistics,
    so their output for an image never changes: it is computed once, and the epochs train
    only the last two stages, the head conv and the classifier on it. The frozen part holds
    the high-resolution layers, most of the compute per image, so an epoch costs a small
    fraction of a full pass; no augmentation (it would need the images re-run through the
    prefix every epoch).
  * "auto" (the default): "all" on a GPU, where the full backward pass is cheap; on a CPU
    "all" while the whole training run costs at most CPU_FULL_PASSES image passes (a job's
    first models), else "top".
A training set of MIN_HOLDOUT_ITEMS or more holds a split out: epochs stop early on it
(lowest held-out loss, best weights restored) and it fits the calibration temperature.
A smaller one trains on every item for a fixed number of epochs (T = 1).
"""
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ml_container.backbone import channels_last, normalise
from ml_container.early_stopping import EarlyStopping
from ml_container.torch_runtime import seed_everything

from . import calibration
from .network import Network

FROZEN_STAGES = 5  # of 7: stages 0-4 run at strides 2-16, the last two at 32
# Below this many training items, no held-out split: every item trains, for a fixed number of epochs,
# and T = 1. A job's first model has ~150: a 15% split left 22 items to stop on, whose loss is noise
# (the best epoch came out anywhere from 2 to 27 of 30), and took 15% of scarce labels. On MNIST
# (2,750 unseen images), 150 images, every layer trained 30 epochs: 88.4-94.3% right with the split
# (seeds 0-5), 94.5-96.5% without, and the share a 95% oracle cut takes rose from 0.83-0.99 to 0.99-1.0;
# on 400 images (12 epochs) 94.1-96.0% with, 96.1-96.4% without (seeds 0-2).
MIN_HOLDOUT_ITEMS = 500
FEATURE_BATCH = 256  # images per no-grad forward pass (feature caching, evaluation)
# An epoch takes at least this many optimizer steps: the batch shrinks for small training sets,
# down to MIN_BATCH. A job's first model trains on ~130 items (150 less the held-out split): at 64 a
# batch, that was 1 step an epoch and 12 in all, and the model came out 59-87% right on MNIST
# depending on the sample; at 16 (7 steps an epoch) 88-90%, and 86% of the items could be labeled at
# 95% accuracy instead of 21-82% (1,000 held-out MNIST images, seeds 0 and 1). From ~500 items up
# the batch is the setting's, as before.
MIN_STEPS_PER_EPOCH = 8
MIN_BATCH = 16
# The default ("auto") epoch count: DEFAULT_EPOCHS, or more for a small training set so that training
# takes at least MIN_TRAINING_STEPS optimizer steps. 150 MNIST images, every layer, no split (seeds 0-5):
# 12 epochs (96 steps) 91.7-93.7% right, 30 epochs (240 steps) 94.5-96.5%.
DEFAULT_EPOCHS = 12
MIN_TRAINING_STEPS = 240
# "auto" on a CPU trains every layer while items x epochs x (side / 96)^2 stays within this many image
# passes: ~40 s on 2 cores (150 images at 96 px, 30 epochs), so a local job's first model costs half
# a minute more and is 3-6 points more accurate than "top" (89-92% right on the same 150 images).
CPU_FULL_PASSES = 5_000
FULL_PASS_SIDE = 96
# The peak of the one-cycle schedule: the better of the two on 1,000 digit images in each mode.
DEFAULT_LEARNING_RATE = {"top": 1e-3, "all": 3e-3}


def batch_size_for(train_items: int, batch_size: int) -> int:
    """The setting's batch size, made smaller (not below MIN_BATCH) so an epoch has MIN_STEPS_PER_EPOCH steps."""
    return max(min(batch_size, MIN_BATCH), min(batch_size, train_items // MIN_STEPS_PER_EPOCH))


def steps_per_epoch(train_items: int, batch_size: int) -> int:
    """Optimizer steps in an epoch at batch_size_for's batch (drop_last: fit says why)."""
    return max(1, train_items // batch_size_for(train_items, batch_size))


def epochs_for(train_items: int, batch_size: int) -> int:
    """DEFAULT_EPOCHS, or enough epochs for MIN_TRAINING_STEPS optimizer steps on a small training set."""
    return max(DEFAULT_EPOCHS, math.ceil(MIN_TRAINING_STEPS / steps_per_epoch(train_items, batch_size)))


def fine_tune_for(device: torch.device, train_items: int, epochs: int, image_size: int) -> str:
    """What "auto" trains: every layer on a GPU, and on a CPU while that costs at most CPU_FULL_PASSES."""
    if device.type == "cuda":
        return "all"
    passes = train_items * epochs * (image_size / FULL_PASS_SIDE) ** 2
    return "all" if passes <= CPU_FULL_PASSES else "top"


@dataclass(frozen=True)
class Settings:
    image_size: int
    fine_tune: str  # "top", "all" or "auto" (fine_tune_for)
    max_epochs: int | None  # None: epochs_for
    patience: int
    batch_size: int
    learning_rate: float | None  # None: DEFAULT_LEARNING_RATE for what trains
    holdout_fraction: float
    seed: int


@dataclass
class Report:
    device: str
    fine_tune: str = ""  # what trained ("auto" resolved)
    max_epochs: int = 0  # the epoch limit used (epochs_for when the setting is None)
    learning_rate: float = 0.0
    epochs: int = 0
    best_epoch: int = 0
    train_items: int = 0
    holdout_items: int = 0
    batch_size: int = 0  # the batch size used (batch_size_for)
    holdout_accuracy: float | None = None
    holdout_nll: float | None = None
    holdout_nll_calibrated: float | None = None
    holdout_ece: float | None = None
    holdout_ece_calibrated: float | None = None
    temperature: float = 1.0
    seconds: float = 0.0


def split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train / held-out indices: every class keeps at least one training item."""
    if len(labels) < MIN_HOLDOUT_ITEMS or fraction <= 0:
        return np.arange(len(labels)), np.arange(0)
    rng = np.random.default_rng(seed)
    train, holdout = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = min(int(round(fraction * len(members))), len(members) - 1)
        holdout.extend(members[:count])
        train.extend(members[count:])
    return np.sort(train), np.sort(holdout)


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random zoom (0.9-1.1) and shift (up to 5% of the side) per image."""
    n = images.shape[0]
    # Drawn on the CPU from a seeded generator: the same augmentation on any device.
    scale = torch.empty(n).uniform_(0.9, 1.1, generator=generator)
    shift = torch.empty(n, 2).uniform_(-0.1, 0.1, generator=generator)  # grid units: the side is 2
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = nn.functional.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    return nn.functional.grid_sample(images, grid, padding_mode="border", align_corners=False)


class _Inputs:
    """What the trained part of the network eats: images ("all") or cached prefix outputs ("top")."""

    def __init__(self, network: Network, images: np.ndarray, fine_tune: str, device: torch.device):
        self.network, self.device = network, device
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2)  # N x 3 x S x S uint8, 1 byte per value
        if fine_tune == "top":
            network.eval()
            with torch.no_grad():
                self.data = torch.cat([
                    network.prefix(normalise(pixels[i:i + FEATURE_BATCH].to(device)), FROZEN_STAGES)
                    for i in range(0, len(pixels), FEATURE_BATCH)
                ]) if len(pixels) else torch.zeros(0)
            self.stages = FROZEN_STAGES
        else:
            self.data = pixels.to(device) if device.type == "cuda" else pixels
            self.stages = 0

    def batch(self, index: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        x = self.data[index.to(self.data.device)].to(self.device)
        if self.stages:
            return channels_last(x)
        x = normalise(x)
        return channels_last(augment(x, generator)) if generator is not None else x

    def features(self, index: torch.Tensor) -> torch.Tensor:
        """Pooled embeddings of the items at `index`, no gradient (the caller sets eval mode)."""
        with torch.no_grad():
            return torch.cat([self.network.features(self.batch(index[i:i + FEATURE_BATCH], None), self.stages)
                              for i in range(0, len(index), FEATURE_BATCH)])


def _trainable(network: Network, fine_tune: str) -> list[nn.Parameter]:
    if fine_tune == "all":
        return list(network.parameters())
    frozen = {id(p) for p in network.net.conv_stem.parameters()} | {id(p) for p in network.net.bn1.parameters()}
    frozen |= {id(p) for p in network.net.blocks[:FROZEN_STAGES].parameters()}
    for p in network.parameters():
        p.requires_grad_(id(p) not in frozen)
    return [p for p in network.parameters() if p.requires_grad]


def _set_mode(network: Network, fine_tune: str, training: bool) -> None:
    network.train(training)
    if fine_tune == "top":
        # Frozen layers keep ImageNet's running statistics (they are not run in training anyway).
        network.net.conv_stem.eval(), network.net.bn1.eval(), network.net.blocks[:FROZEN_STAGES].eval()


@dataclass(frozen=True)
class Plan:
    """What trains, with every "auto" and default of Settings made concrete for one training set."""
    fine_tune: str
    max_epochs: int
    learning_rate: float


def plan(settings: Settings, train_items: int, device: torch.device) -> Plan:
    epochs = settings.max_epochs or epochs_for(train_items, settings.batch_size)
    fine_tune = (fine_tune_for(device, train_items, epochs, settings.image_size)
                 if settings.fine_tune == "auto" else settings.fine_tune)
    return Plan(fine_tune, epochs, settings.learning_rate or DEFAULT_LEARNING_RATE[fine_tune])


def fit(network: Network, images: np.ndarray, labels: np.ndarray, settings: Settings, device: torch.device,
        log: Callable[[str], None] = print) -> Report:
    """Train `network` (pretrained backbone loaded) in place; returns what happened."""
    started = time.monotonic()
    seed_everything(settings.seed)
    # The new head's initial weights come from the seed too, whatever the RNG did before.
    network.net.classifier.reset_parameters()
    train_idx, holdout_idx = (torch.from_numpy(i).long() for i in split(labels, settings.holdout_fraction,
                                                                          settings.seed))
    chosen = plan(settings, len(train_idx), device)
    report = Report(device=str(device), fine_tune=chosen.fine_tune, max_epochs=chosen.max_epochs,
                    learning_rate=chosen.learning_rate, train_items=len(train_idx), holdout_items=len(holdout_idx))
    network.to_device(device)
    inputs = _Inputs(network, images, chosen.fine_tune, device)
    y = torch.from_numpy(labels).long().to(device)
    generator = torch.Generator().manual_seed(settings.seed)
    learns = int(network.seen.sum()) > 1  # a single class is predicted with certainty: nothing to learn

    parameters = _trainable(network, chosen.fine_tune)
    optimiser = torch.optim.AdamW(parameters, lr=chosen.learning_rate, weight_decay=1e-4)
    batch_size = report.batch_size = batch_size_for(len(train_idx), settings.batch_size)
    steps = steps_per_epoch(len(train_idx), settings.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=chosen.learning_rate, total_steps=chosen.max_epochs * steps,
        pct_start=0.15, anneal_strategy="cos")
    stopping = EarlyStopping(settings.patience)
    for epoch in range(1, chosen.max_epochs + 1 if learns else 1):
        _set_mode(network, chosen.fine_tune, True)
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        total, seen = 0.0, 0
        for step in range(steps):
            # drop_last: a batch of one would make batch norm's statistics degenerate.
            index = order[step * batch_size:(step + 1) * batch_size]
            features = network.features(inputs.batch(index, generator), inputs.stages)
            loss = nn.functional.cross_entropy(network.logits(features), y[index.to(device)])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total, seen = total + float(loss.detach()) * len(index), seen + len(index)
        report.epochs = epoch
        message = f"epoch {epoch}: train loss {total / seen:.4f}"
        if len(holdout_idx):
            holdout_loss, accuracy = _evaluate(network, inputs, holdout_idx, y, chosen.fine_tune)
            message += f", held-out loss {holdout_loss:.4f}, accuracy {accuracy:.4f}"
            stopping.update(epoch, holdout_loss, network)
        log(message)
        if len(holdout_idx) and stopping.should_stop:
            log(f"early stop: no held-out improvement for {settings.patience} epochs")
            break
    if stopping.restore(network):
        report.best_epoch = stopping.best_epoch
    elif learns:
        report.best_epoch = report.epochs

    _set_mode(network, chosen.fine_tune, False)
    if len(holdout_idx) and learns:
        _calibrate(network, inputs, holdout_idx, y[holdout_idx.to(device)], report)
    # The embeddings' centre, for the sketch (sketch.py), over every training image.
    network.feature_mean.copy_(inputs.features(torch.arange(len(labels))).mean(dim=0))
    report.seconds = time.monotonic() - started
    return report


def _evaluate(network: Network, inputs: _Inputs, index: torch.Tensor, y: torch.Tensor,
              fine_tune: str) -> tuple[float, float]:
    _set_mode(network, fine_tune, False)
    with torch.no_grad():
        logits = network.logits(inputs.features(index))
        target = y[index.to(y.device)]
        return float(nn.functional.cross_entropy(logits, target)), float((logits.argmax(1) == target).float().mean())


def _calibrate(network: Network, inputs: _Inputs, index: torch.Tensor, target: torch.Tensor, report: Report) -> None:
    with torch.no_grad():
        logits = network.logits(inputs.features(index)).double().cpu()
    target = target.cpu()
    temperature = calibration.fit_temperature(logits, target)
    network.temperature.fill_(temperature)
    before, after = torch.softmax(logits, 1), torch.softmax(logits / temperature, 1)
    report.temperature = temperature
    report.holdout_accuracy = float((logits.argmax(1) == target).double().mean())
    report.holdout_nll = calibration.nll(logits, target, 1.0)
    report.holdout_nll_calibrated = calibration.nll(logits, target, temperature)
    report.holdout_ece = calibration.expected_calibration_error(before, target)
    report.holdout_ece_calibrated = calibration.expected_calibration_error(after, target)
