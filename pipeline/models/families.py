"""The model families: monolith, condition and class-group specialists, shared trunk and its heads.

Each family is registered by name (see :mod:`pipeline.models.registry`); the registry name is also the
model's name in the Triton repository.
"""

import torch
from torch import nn

from pipeline.models.blocks import Normalize, build_stages, build_stem, channels_after, stride_after
from pipeline.models.classes import CLASS_NAMES, CONDITIONS, GROUPS, class_ids
from pipeline.models.head import BoxDecoder, CenterNetHead
from pipeline.models.model_config import BackboneConfig, HeadConfig, ModelConfig
from pipeline.models.registry import ModelInput, register_family

ALL_CLASSES: tuple[int, ...] = tuple(range(len(CLASS_NAMES)))


class DetectionBranch(nn.Module):
    """Backbone stages ``first`` to the end, then the detection head and box decoding."""

    def __init__(
        self, backbone: BackboneConfig, head: HeadConfig, *, first_stage: int, classes: tuple[int, ...]
    ) -> None:
        super().__init__()
        self.stages = build_stages(backbone, first_stage)
        self.head = CenterNetHead(
            channels_after(backbone, backbone.num_stages), num_classes=len(classes), width=head.width
        )
        self.decoder = BoxDecoder(
            stride=backbone.output_stride, max_detections=head.max_detections, class_ids=classes
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Features after stage ``first_stage - 1`` -> detections ``[B, K, 6]``."""
        heatmap, size, offset = self.head(self.stages(features))
        detections: torch.Tensor = self.decoder(heatmap, size, offset)
        return detections


class Detector(nn.Module):
    """A whole detector: uint8 frames ``[B, H, W, 3]`` -> detections ``[B, K, 6]``."""

    def __init__(self, backbone: BackboneConfig, head: HeadConfig, *, classes: tuple[int, ...]) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.stem = build_stem(backbone)
        self.branch = DetectionBranch(backbone, head, first_stage=0, classes=classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Detect objects in a batch of uint8 RGB frames."""
        detections: torch.Tensor = self.branch(self.stem(self.normalize(images)))
        return detections


class Trunk(nn.Module):
    """The shared base layers: uint8 frames -> float features ``[B, C, H/s, W/s]``."""

    def __init__(self, backbone: BackboneConfig, *, branch_point: int) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.stem = build_stem(backbone)
        self.stages = build_stages(backbone, 0, branch_point)
        self.out_channels = channels_after(backbone, branch_point)
        self.stride = stride_after(backbone, branch_point)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Compute the shared features of a batch of uint8 RGB frames."""
        features: torch.Tensor = self.stages(self.stem(self.normalize(images)))
        return features


def _detector(backbone: BackboneConfig, head: HeadConfig, classes: tuple[int, ...]) -> Detector:
    return Detector(backbone, head, classes=classes)


@register_family("monolith", ModelInput.IMAGES, "One large backbone, all 20 classes, every condition.")
def build_monolith(config: ModelConfig) -> nn.Module:
    """The one big network."""
    return _detector(config.monolith, config.head, ALL_CLASSES)


@register_family("trunk", ModelInput.IMAGES, "Shared base layers (stem + first branch_point stages).")
def build_trunk(config: ModelConfig) -> nn.Module:
    """The shared trunk."""
    return Trunk(config.shared.backbone, branch_point=config.shared.branch_point)


def _register_condition_family(condition: str) -> None:
    @register_family(
        f"specialist_{condition}",
        ModelInput.IMAGES,
        f"Small backbone for {condition} scenes, all 20 classes.",
    )
    def build_specialist(config: ModelConfig) -> nn.Module:
        return _detector(config.specialist, config.head, ALL_CLASSES)

    @register_family(
        f"head_{condition}", ModelInput.FEATURES, f"Shared-trunk head for {condition} scenes, all 20 classes."
    )
    def build_head(config: ModelConfig) -> nn.Module:
        shared = config.shared
        return DetectionBranch(
            shared.backbone, config.head, first_stage=shared.branch_point, classes=ALL_CLASSES
        )


def _register_group_family(group: str) -> None:
    ids = class_ids(group)

    @register_family(
        f"specialist_{group}", ModelInput.IMAGES, f"Small backbone for the {group} classes, every condition."
    )
    def build_specialist(config: ModelConfig) -> nn.Module:
        return _detector(config.specialist, config.head, ids)

    @register_family(f"head_{group}", ModelInput.FEATURES, f"Shared-trunk head for the {group} classes.")
    def build_head(config: ModelConfig) -> nn.Module:
        shared = config.shared
        return DetectionBranch(shared.backbone, config.head, first_stage=shared.branch_point, classes=ids)


for _condition in CONDITIONS:
    _register_condition_family(_condition)
for _group in GROUPS:
    _register_group_family(_group)
