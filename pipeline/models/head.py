"""CenterNet-style detection head and the box decoding that runs inside the model.

Decoding inside the model means Triton returns a fixed ``[K, 6]`` tensor per frame
(x1, y1, x2, y2, score, class id; boxes in model-input pixels), which batches cleanly.
"""

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models.blocks import ConvBNReLU

DETECTION_FIELDS = ("x1", "y1", "x2", "y2", "score", "class_id")
"""Columns of one detection row."""

_HEATMAP_PRIOR = -2.19  # sigmoid(-2.19) ~ 0.1: the CenterNet initialisation that keeps early training stable


class CenterNetHead(nn.Module):
    """Predicts a class heatmap, box size and centre offset at the feature map's resolution."""

    def __init__(self, in_channels: int, *, num_classes: int, width: int) -> None:
        super().__init__()
        if num_classes <= 0:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.conv = ConvBNReLU(in_channels, width)
        self.heatmap = nn.Conv2d(width, num_classes, 1)
        self.size = nn.Conv2d(width, 2, 1)
        self.offset = nn.Conv2d(width, 2, 1)
        assert self.heatmap.bias is not None
        nn.init.constant_(self.heatmap.bias, _HEATMAP_PRIOR)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return heatmap logits ``[B, C, H, W]``, sizes ``[B, 2, H, W]`` and offsets ``[B, 2, H, W]``."""
        x = self.conv(features)
        return self.heatmap(x), self.size(x), self.offset(x)


class BoxDecoder(nn.Module):
    """Turn head outputs into the top ``max_detections`` boxes per frame, ``[B, K, 6]``.

    Sizes and offsets are in feature-grid units; boxes come out in input pixels. ``class_ids`` maps the
    head's local class index to the global class id (for class-group specialists).
    """

    class_ids: torch.Tensor

    def __init__(self, *, stride: int, max_detections: int, class_ids: tuple[int, ...]) -> None:
        super().__init__()
        self.stride = stride
        self.max_detections = max_detections
        self.register_buffer("class_ids", torch.tensor(class_ids, dtype=torch.float32))

    def forward(self, heatmap: torch.Tensor, size: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """Decode one batch."""
        batch, classes, height, width = heatmap.shape
        heat = torch.sigmoid(heatmap)
        peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat).to(heat.dtype)
        k = min(self.max_detections, classes * height * width)
        scores, indices = torch.topk(peaks.reshape(batch, -1), k)
        cls = torch.div(indices, height * width, rounding_mode="floor")
        pixel = indices - cls * height * width
        ys = torch.div(pixel, width, rounding_mode="floor").to(heat.dtype)
        xs = (pixel - ys.long() * width).to(heat.dtype)
        gathered_size = torch.gather(size.reshape(batch, 2, -1), 2, pixel.unsqueeze(1).expand(-1, 2, -1))
        gathered_offset = torch.gather(offset.reshape(batch, 2, -1), 2, pixel.unsqueeze(1).expand(-1, 2, -1))
        cx = (xs + gathered_offset[:, 0]) * self.stride
        cy = (ys + gathered_offset[:, 1]) * self.stride
        half_w = F.relu(gathered_size[:, 0]) * self.stride / 2
        half_h = F.relu(gathered_size[:, 1]) * self.stride / 2
        detections = torch.stack(
            (cx - half_w, cy - half_h, cx + half_w, cy + half_h, scores, self.class_ids[cls]), dim=2
        )
        if k < self.max_detections:  # tiny inputs: pad so the output is always [B, K, 6]
            detections = F.pad(detections, (0, 0, 0, self.max_detections - k))
        return detections
