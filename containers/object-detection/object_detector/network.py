"""The detector: EfficientNet-Lite0's first five stages, a small feature pyramid, and heads
that mark object centres, draw a box at each and estimate how well that box fits.

"Objects as Points" (CenterNet) with TTFNet's box regression:
  * backbone: EfficientNet-Lite0 stages 0-4 (ImageNet weights), outputs at strides 8
    (40 channels) and 16 (112); stages 5-6 (stride 32) are dropped: the stride-16
    features already see a whole object of a few dozen pixels.
  * neck: the stride-16 features, upsampled, are added into the stride-8 ones (a
    two-level top-down pyramid, NECK channels).
  * heads, per stride-8 cell: a centre heatmap per class (sigmoid), the distances from
    the cell's centre to the box's four sides (input pixels), and the IoU that box will
    have with its object (sigmoid), a localisation-quality estimate (confidence.py).
    Boxes are regressed, not snapped to cells, so stride 8 still draws 16-pixel objects:
    on shapes scenes at 128 px it scored higher than a stride-4 map fed by stage 1
    (held-out quality 0.84 vs 0.81) and trained faster.
Stages 0-2 can stay frozen with ImageNet's weights and statistics; their output is then
computed once per image and cached (fit.py).
"""
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ml_container import backbone

MODEL_FILE = "model.pt"
META_FILE = "meta.json"
BACKBONE = "efficientnet_lite0"
ARCHITECTURE = "centernet-ttf-s8"  # bumped when the layout changes: older model.pt files fail to load clearly
STAGES = 5  # stages 0-4 of EfficientNet-Lite0
FROZEN_STAGES = 3  # stages 0-2 (strides 2-8): ~90% of the compute per image at 128 px
STRIDE = 8  # of the heads' map
NECK = 64
CHANNELS = {8: 40, 16: 112}  # backbone output channels by stride
# The box distances start near one map cell (softplus(0) * STRIDE ~ 5.5 px) and grow as needed.
DISTANCE_SCALE = float(STRIDE)
# Initial centre probability, as RetinaNet and CenterNet set it: almost every cell is background.
PRIOR = 0.01


def _separable(channels: int) -> nn.Sequential:
    """3x3 depthwise + 1x1 pointwise conv and ReLU: a 3x3 conv's reach at a ninth of its cost.
    No batch norm: on 250 shapes scenes, dropping it from the neck and heads trained 20% faster
    (it was a third of a training step's time) and no worse (held-out quality 0.85 vs 0.84)."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True),
    )


class Head(nn.Module):
    def __init__(self, out_channels: int, bias: float = 0.0):
        super().__init__()
        self.tower = _separable(NECK)
        self.out = nn.Conv2d(NECK, out_channels, 1)
        nn.init.normal_(self.out.weight, std=0.01)
        nn.init.constant_(self.out.bias, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.tower(x))


class Detector(nn.Module):
    def __init__(self, label_count: int, classes: list[int]):
        super().__init__()
        net = backbone.EfficientNetLite0()
        self.conv_stem, self.bn1 = net.conv_stem, net.bn1
        self.blocks = net.blocks[:STAGES]  # timm's names, so that the ImageNet weights load by name
        self.lateral = nn.ModuleDict({str(s): nn.Conv2d(c, NECK, 1) for s, c in CHANNELS.items()})
        self.smooth = _separable(NECK)
        self.heatmap = Head(label_count, bias=float(torch.logit(torch.tensor(PRIOR))))
        self.distances = Head(4)
        self.quality = Head(1)
        # Classes without a training box get no centre anywhere (their heatmap is masked), however
        # the untrained channel drifts; as the classifiers give unseen classes a score of 0.
        seen = torch.zeros(label_count, dtype=torch.bool)
        seen[classes] = True
        self.register_buffer("seen", seen)
        self.register_buffer("feature_mean", torch.zeros(CHANNELS[16]))  # for the sketch (predictor.py)
        # Logistic calibration of a box's score (confidence.py): a * logit(score) + b.
        self.register_buffer("score_calibration", torch.tensor([1.0, 0.0]))

    def to_device(self, device: torch.device) -> "Detector":
        return self.to(device, memory_format=torch.channels_last)

    def load_pretrained_backbone(self) -> None:
        """ImageNet weights for the stem and stages 0-4; the neck and heads start fresh."""
        weights = backbone.pretrained().state_dict()
        own = self.state_dict()
        mine = {k: v for k, v in weights.items() if k in own}
        missing = [k for k in own if k.startswith(("conv_stem.", "bn1.", "blocks.")) and k not in mine]
        assert not missing, missing  # a renamed layer would otherwise stay random
        self.load_state_dict(mine, strict=False)

    def frozen_modules(self) -> list[nn.Module]:
        return [self.conv_stem, self.bn1, *self.blocks[:FROZEN_STAGES]]

    def prefix(self, images: torch.Tensor) -> torch.Tensor:
        """The frozen part: normalised images -> stride-8 features."""
        return self.blocks[:FROZEN_STAGES](nn.functional.relu6(self.bn1(self.conv_stem(images))))

    def rest(self, stride8: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The trained part: stride-8 features -> head outputs (stride-8 maps) and pooled stride-16 features."""
        stride16 = self.blocks[FROZEN_STAGES:](stride8)
        top = self.lateral["16"](stride16)
        p8 = self.smooth(self.lateral["8"](stride8) + nn.functional.interpolate(top, scale_factor=2.0))
        outputs = {
            "heatmap": self.heatmap(p8).masked_fill(~self.seen.view(1, -1, 1, 1), float("-inf")),  # logits
            "distances": nn.functional.softplus(self.distances(p8)) * DISTANCE_SCALE,
            "quality": self.quality(p8),  # logits
        }
        return outputs, stride16.mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return self.rest(self.prefix(images))


def save(model_dir: Path, detector: Detector, meta: dict[str, Any]) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in detector.state_dict().items()}, model_dir / MODEL_FILE)
    (model_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def load(model_dir: Path) -> tuple[Detector, dict[str, Any]]:
    meta_path = model_dir / META_FILE
    if not meta_path.exists():
        raise FileNotFoundError(f"no trained model in {model_dir} ({META_FILE} missing)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if (meta.get("backbone"), meta.get("architecture")) != (BACKBONE, ARCHITECTURE):
        # Weights of another layout would fail to load or, worse, load into the wrong layers.
        raise ValueError(f"model in {model_dir} is a {meta.get('backbone')!r}/{meta.get('architecture')!r} "
                         f"model, this image runs {BACKBONE!r}/{ARCHITECTURE!r}")
    detector = Detector(int(meta["label_count"]), [int(c) for c in meta["classes"]])
    detector.load_state_dict(torch.load(model_dir / MODEL_FILE, map_location="cpu", weights_only=True))
    return detector.eval(), meta
