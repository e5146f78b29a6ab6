"""The labeling task's network: EfficientNet-Lite0 with a new label_count-wide head, and its on-disk form.

Training data may hold only some of the label_count classes; the logits of classes never
seen are masked to -inf, so their scores are exactly 0 (as the text container's are) and
the softmax spreads only over classes the model learned. The calibration temperature,
the class mask and the embeddings' mean (for the sketch) are buffers, so model.pt alone
reproduces the predictions; meta.json says how to build the network and feed it.
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
DROPOUT = 0.2  # EfficientNet-Lite0's own rate before the classifier


class Network(nn.Module):
    def __init__(self, label_count: int, classes: list[int]):
        super().__init__()
        self.net = backbone.EfficientNetLite0(num_classes=label_count)
        self.dropout = nn.Dropout(DROPOUT)
        seen = torch.zeros(label_count, dtype=torch.bool)
        seen[classes] = True
        self.register_buffer("seen", seen)
        self.register_buffer("temperature", torch.tensor(1.0))
        self.register_buffer("feature_mean", torch.zeros(backbone.FEATURES))

    def to_device(self, device: torch.device) -> "Network":
        return self.to(device, memory_format=torch.channels_last)

    def load_pretrained_backbone(self) -> None:
        """ImageNet weights everywhere but the classifier, which is new (label_count wide)."""
        weights = {k: v for k, v in backbone.pretrained().state_dict().items() if not k.startswith("classifier.")}
        missing, unexpected = self.net.load_state_dict(weights, strict=False)
        assert not unexpected and all(k.startswith("classifier.") for k in missing), (missing, unexpected)

    # The network in two parts, so that a frozen prefix can be run once and its output reused.
    def prefix(self, x: torch.Tensor, stages: int) -> torch.Tensor:
        return self.net.blocks[:stages](self.net.stem(x))

    def features(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """The pooled embedding of images (start = 0) or of the first `start` stages' output."""
        h = self.net.stem(x) if start == 0 else x
        return self.net.head_features(self.net.blocks[start:](h))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.classifier(self.dropout(features)).masked_fill(~self.seen, float("-inf"))

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Calibrated probabilities; masked classes get exactly 0. In float64, so that confident
        items keep distinct scores below 1.0 (float32 rounds every logit margin over ~17 to 1.0)."""
        return torch.softmax(logits.double() / self.temperature, dim=1)


def save(model_dir: Path, network: Network, meta: dict[str, Any]) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in network.state_dict().items()}
    torch.save(state, model_dir / MODEL_FILE)
    (model_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def load(model_dir: Path) -> tuple[Network, dict[str, Any]]:
    meta_path = model_dir / META_FILE
    if not meta_path.exists():
        raise FileNotFoundError(f"no trained model in {model_dir} ({META_FILE} missing)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("backbone") != BACKBONE:
        # Weights of another architecture would fail to load or, worse, load into the wrong layers.
        raise ValueError(f"model in {model_dir} is a {meta.get('backbone')!r} model, this image runs {BACKBONE!r}")
    network = Network(int(meta["label_count"]), [int(c) for c in meta["classes"]])
    network.load_state_dict(torch.load(model_dir / MODEL_FILE, map_location="cpu", weights_only=True))
    return network.eval(), meta
