"""What Triton's CPU pays per megabyte a request carries: frames in, and features between ensemble steps.

A python-backend model's tensors cross process boundaries: the client's frames go from shared memory into
the model's stub, and a trunk's features go from its stub back to the server and on into every head's stub,
where they are copied once more into the batch. The element-wise operator rate (in-cache work) charged
those copies 14 us a megabyte; load tests of a shared trunk whose heads read 0.3 MB a frame spent
1-2 ms a frame more in Triton than that.

This probe runs inside the null pipeline's server (:mod:`loadtest.system_probe`), on its null models:
the monolith (frames in, detections out) and the shared trunk with group heads (frames in, features to
each head). Each is sent ``requests`` requests at two frame sides, and the Triton process tree's CPU per
request is read by :class:`loadtest.resources.ResourceSampler`. The monolith's difference between the
sides gives the cost per frame megabyte; the group ensemble's difference, less its frames' share, the
cost per megabyte of features a head reads. Null models compute nothing, so only the hand-offs differ.
No model config under prediction is involved: the null models have the default config's tensor shapes.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from pipeline.models.model_config import ModelConfig
from pipeline.planner.hardware import MB

if TYPE_CHECKING:
    from pipeline.serving.client import TritonClient

logger = logging.getLogger(__name__)

_DIRECT_DESIGN = "monolith"
_FEATURES_DESIGN = "shared-groups"
SIDES = (160, 480)
"""Frame sides (pixels) the probe sends: the default input and 9x its area."""


@dataclass(frozen=True)
class HandoffCosts:
    """Triton CPU seconds per megabyte moved, as the planner charges it."""

    frame_s_per_mb: float
    """Per megabyte of frames a request carries into its first step."""
    feature_s_per_mb: float
    """Per megabyte of features a step reads from the step before it (each reader pays its own)."""

    def seconds(self, moved: Megabytes) -> float:
        """Triton CPU of moving ``moved``."""
        return self.frame_s_per_mb * moved.frames + self.feature_s_per_mb * moved.features


@dataclass(frozen=True)
class Megabytes:
    """What one request moves through Triton: frames in, and features read by later steps."""

    frames: float
    features: float


def request_megabytes(
    design: str, config: ModelConfig, frames: float, *, side: int | None = None
) -> Megabytes:
    """Megabytes a request of ``frames`` frames of ``side`` pixels (the config's input) moves in ``design``.

    Features scale with the frame's area: a trunk's grid is the side over its stride.
    """
    from pipeline.planner.cost import design_cost, frame_bytes

    side = side or config.input_size
    cost = design_cost(design, config)
    readers = sum(model.input_bytes for model in cost.models.values() if model.reads_features)
    return Megabytes(
        frames=frames * frame_bytes(side) / MB,
        features=frames * readers * (side / config.input_size) ** 2 / MB,
    )


def _cpu_per_request(
    client: TritonClient, model: str, frames: npt.NDArray[np.uint8], triton_pids: Sequence[int], requests: int
) -> float:
    """Triton's CPU seconds per request of ``frames`` to ``model`` (synchronous requests, after two)."""
    from loadtest.resources import ResourceSampler

    for _ in range(2):
        client.infer(model, frames)
    sampler = ResourceSampler({"triton": list(triton_pids)})
    sampler.start()
    for _ in range(requests):
        client.infer(model, frames)
    return sampler.stop().cpu_seconds["triton"] / requests


def measure_handoff(
    client: TritonClient,
    triton_pids: Sequence[int],
    *,
    config: ModelConfig | None = None,
    batch: int = 4,
    requests: int = 30,
    rounds: int = 3,
) -> HandoffCosts:
    """Triton's CPU per frame megabyte and per feature megabyte read, from the served null models.

    ``config`` gives the null models' tensor shapes (the default config's). Each round times the four
    (design, side) cells in turn; each figure is the median over rounds.
    """
    from pipeline.models.designs import get_design

    config = config or ModelConfig()
    small, large = SIDES
    rng = np.random.default_rng(0)
    images = {side: rng.integers(0, 256, (batch, side, side, 3), dtype=np.uint8) for side in SIDES}

    def moved(design: str) -> Megabytes:
        big, little = (request_megabytes(design, config, batch, side=side) for side in (large, small))
        return Megabytes(big.frames - little.frames, big.features - little.features)

    def extra_cpu(design: str) -> float:
        model = get_design(design).served_models[0]
        cpu = [
            _cpu_per_request(client, model, images[side], triton_pids, requests) for side in (large, small)
        ]
        return cpu[0] - cpu[1]

    direct, grouped = moved(_DIRECT_DESIGN), moved(_FEATURES_DESIGN)
    frame_rates, feature_rates = [], []
    for _ in range(rounds):
        per_frame_mb = extra_cpu(_DIRECT_DESIGN) / direct.frames
        features = extra_cpu(_FEATURES_DESIGN) - per_frame_mb * grouped.frames
        frame_rates.append(per_frame_mb)
        feature_rates.append(features / grouped.features)
    costs = HandoffCosts(
        frame_s_per_mb=max(statistics.median(frame_rates), 0.0),
        feature_s_per_mb=max(statistics.median(feature_rates), 0.0),
    )
    logger.info(
        "Triton hand-offs: %.2f ms per frame MB, %.2f ms per feature MB read (rounds: %s / %s)",
        1e3 * costs.frame_s_per_mb,
        1e3 * costs.feature_s_per_mb,
        ", ".join(f"{1e3 * r:.2f}" for r in frame_rates),
        ", ".join(f"{1e3 * r:.2f}" for r in feature_rates),
    )
    return costs
