import numpy as np
import torch

from pipeline.train.losses import centernet_loss, focal_loss
from pipeline.train.targets import build_targets


def _targets():
    box = np.array([[16.0, 16.0, 64.0, 48.0]], dtype=np.float32)
    return build_targets([box], [np.array([1])], class_ids=range(3), grid=10, stride=8)


def test_focal_loss_perfect_logits_lower_than_prior() -> None:
    targets = _targets()
    perfect = torch.logit(targets.heatmap.clamp(1e-4, 1 - 1e-4))
    prior = torch.full_like(perfect, -2.19)
    assert focal_loss(perfect, targets.heatmap) < 0.05 < focal_loss(prior, targets.heatmap)


def test_centernet_loss_perfect_outputs_have_zero_l1_terms() -> None:
    targets = _targets()
    outputs = (
        torch.logit(targets.heatmap.clamp(1e-4, 1 - 1e-4)),
        targets.size.clone(),
        targets.offset.clone(),
    )
    parts = centernet_loss(outputs, targets)
    assert parts.size == 0 and parts.offset == 0
    assert parts.total == parts.heatmap


def test_focal_loss_empty_frame_is_finite() -> None:
    empty = torch.zeros(1, 3, 10, 10)
    assert torch.isfinite(focal_loss(torch.zeros(1, 3, 10, 10), empty))
