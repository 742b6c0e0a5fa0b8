"""Backbone building blocks: input normalisation, conv-BN-ReLU, residual blocks and stages."""

import torch
from torch import nn

from pipeline.models.model_config import BackboneConfig

# ImageNet statistics, scaled to uint8: the usual choice, and harmless for models trained from scratch.
_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


class Normalize(nn.Module):
    """Turn uint8 RGB frames ``[B, H, W, 3]`` into normalised float ``[B, 3, H, W]``."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise a uint8 NHWC batch."""
        x = images.permute(0, 3, 1, 2).float()
        return (x - self.mean) / self.std


class ConvBNReLU(nn.Sequential):
    """3x3 (or k x k) convolution, batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, kernel_size: int = 3) -> None:
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"channels must be positive, got {in_channels} -> {out_channels}")
        super().__init__(
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with an identity shortcut (ResNet basic block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(channels, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        out: torch.Tensor = self.relu(x + self.bn2(self.conv2(self.conv1(x))))
        return out


class Stage(nn.Sequential):
    """An entry convolution at the stage's stride, then ``depth`` residual blocks."""

    def __init__(self, in_channels: int, out_channels: int, *, depth: int, stride: int) -> None:
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        super().__init__(
            ConvBNReLU(in_channels, out_channels, stride=stride),
            *(ResidualBlock(out_channels) for _ in range(depth)),
        )


def build_stem(config: BackboneConfig) -> ConvBNReLU:
    """The stride-2 stem of a backbone."""
    return ConvBNReLU(3, config.stem_width, stride=2)


def build_stages(config: BackboneConfig, first: int = 0, last: int | None = None) -> nn.Sequential:
    """Stages ``first`` (inclusive) to ``last`` (exclusive) of a backbone, as one sequential module.

    Each stage is named ``stage<i>`` with ``i`` its index in the full backbone, so a trunk and its heads
    keep the layer names of the network they were split from.
    """
    last = config.num_stages if last is None else last
    if not 0 <= first <= last <= config.num_stages:
        raise ValueError(f"stage range [{first}, {last}) is outside 0..{config.num_stages}")
    stages = nn.Sequential()
    for index in range(first, last):
        in_channels = config.stem_width if index == 0 else config.widths[index - 1]
        stages.add_module(
            f"stage{index}",
            Stage(
                in_channels, config.widths[index], depth=config.depths[index], stride=config.strides[index]
            ),
        )
    return stages


def channels_after(config: BackboneConfig, stages: int) -> int:
    """Channels of a backbone's output after its first ``stages`` stages (stem only for 0)."""
    return config.stem_width if stages == 0 else config.widths[stages - 1]


def stride_after(config: BackboneConfig, stages: int) -> int:
    """Stride relative to the input after the stem and the first ``stages`` stages."""
    stride = 2
    for s in config.strides[:stages]:
        stride *= s
    return stride
