"""CenterNet losses: penalty-reduced focal loss on the heatmap, L1 on size and offset at box centres."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pipeline.train.targets import CenterNetTargets

logger = logging.getLogger(__name__)

SIZE_WEIGHT = 0.1
"""Weight of the size L1 term (CenterNet's value; sizes are larger numbers than offsets)."""
OFFSET_WEIGHT = 1.0
"""Weight of the offset L1 term."""


@dataclass(frozen=True)
class LossParts:
    """The loss of one head on one batch, and its terms (all scalars)."""

    total: torch.Tensor
    heatmap: torch.Tensor
    size: torch.Tensor
    offset: torch.Tensor


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, *, alpha: float = 2.0, beta: float = 4.0
) -> torch.Tensor:
    """CenterNet's focal loss, summed and divided by the number of peaks (at least 1).

    Args:
        logits: heatmap logits ``[B, C, H, W]``.
        target: Gaussian heatmap ``[B, C, H, W]``; cells equal to 1 are the positives.
        alpha: focusing exponent on the prediction.
        beta: exponent that reduces the penalty near a peak.
    """
    positive = target.eq(1).float()
    prob = torch.sigmoid(logits)
    # log-sigmoid forms stay finite where the sigmoid saturates.
    pos_loss = F.logsigmoid(logits) * (1 - prob).pow(alpha) * positive
    neg_loss = F.logsigmoid(-logits) * prob.pow(alpha) * (1 - target).pow(beta) * (1 - positive)
    peaks = positive.sum().clamp(min=1.0)
    return -(pos_loss.sum() + neg_loss.sum()) / peaks


def masked_l1(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 between ``prediction`` and ``target`` ``[B, 2, H, W]`` at cells where ``mask`` is 1, per box."""
    return (F.l1_loss(prediction, target, reduction="none") * mask).sum() / mask.sum().clamp(min=1.0)


def centernet_loss(
    outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], targets: CenterNetTargets
) -> LossParts:
    """Loss of raw head outputs (heatmap logits, size, offset) against their targets."""
    heatmap, size, offset = outputs
    heat = focal_loss(heatmap, targets.heatmap)
    size_loss = masked_l1(size, targets.size, targets.mask)
    offset_loss = masked_l1(offset, targets.offset, targets.mask)
    total = heat + SIZE_WEIGHT * size_loss + OFFSET_WEIGHT * offset_loss
    return LossParts(total=total, heatmap=heat, size=size_loss, offset=offset_loss)
