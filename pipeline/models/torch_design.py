"""Run a design directly in PyTorch, wired exactly like its Triton ensemble.

Used as the reference that Triton's answers are checked against, and as the "direct PyTorch" side of
``camfleet bench models``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from pipeline.errors import ModelError
from pipeline.models.designs import ENSEMBLES, Design
from pipeline.serving.python_model import merge_detections


class TorchDesign:
    """The PyTorch modules of one design and the ensemble wiring between them."""

    def __init__(self, design: Design, modules: Mapping[str, nn.Module], *, max_detections: int) -> None:
        missing = {
            name
            for served in design.served_models
            for name in (ENSEMBLES[served].steps if served in ENSEMBLES else (served,))
            if name not in modules and name != "merge_detections"
        }
        if missing:
            raise ModelError(f"design {design.name!r} needs modules {sorted(missing)}")
        self.design = design
        self.modules = dict(modules)
        self.max_detections = max_detections

    @classmethod
    def from_repository(cls, design: Design, repository: Path, *, max_detections: int) -> TorchDesign:
        """Load the exported TorchScript weights (``<repo>/<name>/1/model.pt``) the design uses.

        Raises:
            ModelError: if a weight file is missing (run ``camfleet models export`` first).
        """
        modules: dict[str, nn.Module] = {}
        for name in design.required_models:
            if name in ENSEMBLES or name == "merge_detections":
                continue
            path = repository / name / "1" / "model.pt"
            if not path.is_file():
                raise ModelError(f"{path} is missing; run `camfleet models export` first")
            modules[name] = torch.jit.load(str(path), map_location="cpu").eval()  # type: ignore[no-untyped-call]
        return cls(design, modules, max_detections=max_detections)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, condition: str = "day") -> torch.Tensor:
        """Detections ``[B, K, 6]`` for uint8 frames ``[B, H, W, 3]`` of one condition."""
        served = self.design.model_for(condition)
        spec = ENSEMBLES.get(served)
        if spec is None:
            out: torch.Tensor = self.modules[served](images)
            return out
        features = self.modules[spec.trunk](images) if spec.trunk else images
        parts = [self.modules[name](features) for name in spec.parallel]
        return merge_detections(parts, self.max_detections) if spec.merges else parts[0]
