"""CenterNet training targets, matching :class:`pipeline.models.head.BoxDecoder`.

For every box the class heatmap gets a Gaussian peak of exactly 1 at the grid cell holding the box centre;
that cell also holds the box size and the centre's sub-cell offset, both in feature-grid units (pixels
divided by the output stride), which is what the decoder turns back into input pixels.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from pipeline.train.samples import BoxArray, ClassArray

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CenterNetTargets:
    """Targets of one batch at the head's resolution.

    Attributes:
        heatmap: ``[B, C, H, W]`` Gaussian class heatmaps in [0, 1].
        size: ``[B, 2, H, W]`` box width and height in grid units, at centre cells.
        offset: ``[B, 2, H, W]`` centre minus its integer cell, at centre cells.
        mask: ``[B, 1, H, W]`` 1 at centre cells, else 0.
    """

    heatmap: torch.Tensor
    size: torch.Tensor
    offset: torch.Tensor
    mask: torch.Tensor


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """Radius (grid units) within which a shifted box still overlaps the true one by ``min_overlap``.

    This is CornerNet's formula, as used by CenterNet: the smallest of the three quadratic solutions.
    """
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * a1 * c1)) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def draw_gaussian(heatmap: npt.NDArray[np.float32], cx: int, cy: int, radius: int) -> None:
    """Write a Gaussian of peak 1 centred on cell (cx, cy) into ``heatmap`` [H, W] by element-wise max."""
    sigma = (2 * radius + 1) / 6
    ys, xs = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    kernel = np.exp(-(xs * xs + ys * ys) / (2 * sigma * sigma))
    height, width = heatmap.shape
    left, right = min(cx, radius), min(width - cx, radius + 1)
    top, bottom = min(cy, radius), min(height - cy, radius + 1)
    region = heatmap[cy - top : cy + bottom, cx - left : cx + right]
    patch = kernel[radius - top : radius + bottom, radius - left : radius + right]
    np.maximum(region, patch, out=region)


def build_targets(
    boxes: Sequence[BoxArray],
    classes: Sequence[ClassArray],
    *,
    class_ids: Sequence[int],
    grid: int,
    stride: int,
    min_radius: int = 0,
) -> CenterNetTargets:
    """Targets for a batch of frames.

    Args:
        boxes: per frame, float ``[N, 4]`` boxes (x1, y1, x2, y2) in input pixels.
        classes: per frame, int ``[N]`` global class ids.
        class_ids: the head's classes: global id of each local heatmap channel. Boxes of other classes
            are ignored (they are background for this head).
        grid: side of the (square) feature grid.
        stride: input pixels per grid cell.
        min_radius: smallest Gaussian radius in grid cells. CornerNet's radius is 0 for boxes of one or
            two cells, which leaves a single positive cell and penalises its neighbours fully; a floor of
            1-2 cells lets small objects train much faster.
    """
    local = {global_id: index for index, global_id in enumerate(class_ids)}
    batch = len(boxes)
    heatmap = np.zeros((batch, len(class_ids), grid, grid), dtype=np.float32)
    size = np.zeros((batch, 2, grid, grid), dtype=np.float32)
    offset = np.zeros((batch, 2, grid, grid), dtype=np.float32)
    mask = np.zeros((batch, 1, grid, grid), dtype=np.float32)
    for b, (frame_boxes, frame_classes) in enumerate(zip(boxes, classes, strict=True)):
        for box, class_id in zip(frame_boxes, frame_classes, strict=True):
            channel = local.get(int(class_id))
            width, height = (box[2] - box[0]) / stride, (box[3] - box[1]) / stride
            if channel is None or width <= 0 or height <= 0:
                continue
            cx, cy = (box[0] + box[2]) / (2 * stride), (box[1] + box[3]) / (2 * stride)
            ix, iy = min(max(int(cx), 0), grid - 1), min(max(int(cy), 0), grid - 1)
            radius = max(min_radius, int(gaussian_radius(math.ceil(height), math.ceil(width))))
            draw_gaussian(heatmap[b, channel], ix, iy, radius)
            size[b, :, iy, ix] = (width, height)
            offset[b, :, iy, ix] = (cx - ix, cy - iy)
            mask[b, 0, iy, ix] = 1.0
    return CenterNetTargets(
        heatmap=torch.from_numpy(heatmap),
        size=torch.from_numpy(size),
        offset=torch.from_numpy(offset),
        mask=torch.from_numpy(mask),
    )
