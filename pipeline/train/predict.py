"""Run a design in PyTorch as Triton would: route by condition, or run every group and merge.

This mirrors ``pipeline.models.designs``: condition designs send a frame of condition ``c`` to that
condition's model; group designs run every group model and keep the top ``K`` rows by score of the
concatenated outputs (what the ``merge_detections`` Triton model does).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from pipeline.models.classes import CONDITIONS, GROUPS
from pipeline.models.designs import DESIGNS
from pipeline.models.model_config import ModelConfig
from pipeline.models.registry import build_model
from pipeline.serving.python_model import merge_detections
from pipeline.train.checkpoint import load_weights

logger = logging.getLogger(__name__)


def models_of(design: str) -> tuple[str, ...]:
    """Registry names whose weights a design needs."""
    if design == "monolith":
        return ("monolith",)
    if design == "specialists-condition":
        return tuple(f"specialist_{c}" for c in CONDITIONS)
    if design == "specialists-groups":
        return tuple(f"specialist_{g}" for g in GROUPS)
    if design == "shared-condition":
        return ("trunk", *(f"head_{c}" for c in CONDITIONS))
    if design == "shared-groups":
        return ("trunk", *(f"head_{g}" for g in GROUPS))
    raise ValueError(f"unknown design {design!r}; known: {', '.join(DESIGNS)}")


class DesignPredictor:
    """A design's trained models, callable on a batch of frames that share one condition."""

    def __init__(self, design: str, models: dict[str, nn.Module], *, max_detections: int) -> None:
        self.design = design
        self.models = {name: model.eval() for name, model in models.items()}
        self.max_detections = max_detections

    @classmethod
    def load(cls, config: ModelConfig, design: str, weights_dir: Path) -> DesignPredictor:
        """Build the design's models from ``config`` and load ``<weights_dir>/<name>.pt`` into each.

        Raises:
            ModelError: if a weights file is missing or does not fit the config.
        """
        models = {
            name: load_weights(build_model(name, config), weights_dir, name) for name in models_of(design)
        }
        return cls(design, models, max_detections=config.head.max_detections)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, condition: str | None) -> torch.Tensor:
        """Detections ``[B, K, 6]`` (input pixels) for uint8 frames ``[B, H, W, 3]`` of ``condition``.

        A condition design given untagged frames runs every condition's model and merges the outputs.
        """
        m, k = self.models, self.max_detections
        routed = (condition,) if condition else CONDITIONS
        if self.design == "monolith":
            detections: torch.Tensor = m["monolith"](images)
            return detections
        if self.design == "specialists-condition":
            return merge_detections([m[f"specialist_{c}"](images) for c in routed], k)
        if self.design == "specialists-groups":
            return merge_detections([m[f"specialist_{g}"](images) for g in GROUPS], k)
        features = m["trunk"](images)
        if self.design == "shared-condition":
            return merge_detections([m[f"head_{c}"](features) for c in routed], k)
        return merge_detections([m[f"head_{g}"](features) for g in GROUPS], k)
