"""The two limits measured in the same run: decode-only and inference-only throughput.

Decode-only reuses the ingest benchmark (:mod:`pipeline.ingest.bench`): the same clips decoded and resized
by camera-group actors as fast as they go, no inference; the quick form decodes on one thread and scales by
the core count. Inference-only sends ready-made frames straight to Triton, with the pipeline's requests in
flight, at the batch a saturated batcher sends and at batch 1.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.ingest.bench import decode_per_core, run_layout
from pipeline.ingest.spec import CameraSpec
from pipeline.models.designs import get_design
from pipeline.serving.client import TritonClient

logger = logging.getLogger(__name__)

CAMERAS_PER_ACTOR = 4


@dataclass(frozen=True)
class DecodeLimit:
    """Decode-only throughput and its cost per frame (for subtracting decode from the pipeline's CPU)."""

    fps: float
    frames_per_cpu_s: float
    method: str


def decode_limit(clips: Sequence[Path], input_size: int, *, seconds: float, quick: bool) -> DecodeLimit:
    """Decode ``clips`` (looping, unpaced) resized to the model input; Ray must be up unless ``quick``."""
    size = (input_size, input_size)
    if quick:
        one = decode_per_core(clips[0], frames=300, size=size)
        cores = os.cpu_count() or 1
        return DecodeLimit(one["fps_per_cpu_s"] * cores, one["fps_per_cpu_s"], f"1 thread x {cores} cores")
    specs = [
        CameraSpec(
            camera_id=f"dec{i}",
            url=str(clip),
            fps=None,
            width=size[0],
            height=size[1],
            realtime=False,
            loop=True,
            queue_size=256,
        )
        for i, clip in enumerate(clips)
    ]
    actors = math.ceil(len(specs) / CAMERAS_PER_ACTOR)
    result = run_layout(specs, actors, seconds=seconds)
    return DecodeLimit(result.decoded_fps, result.decoded_per_cpu_s, f"{result.layout} camera-group actors")


def _fps_in_flight(
    client: TritonClient, model: str, frames: npt.NDArray[Any], in_flight: int, seconds: float
) -> float:
    """Frames/s with ``in_flight`` requests outstanding (as the batcher keeps them), after one warm-up."""
    client.infer(model, frames)
    pending: list[Future[Any]] = []
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        while len(pending) < in_flight:
            pending.append(client.infer_async(model, frames))
        pending[0].result(timeout=client.timeout_s * 2)
        pending.pop(0)
        done += 1
    for future in pending:  # bounded: each has the client's own timeout
        future.result(timeout=client.timeout_s * 2)
        done += 1
    return done * len(frames) / (time.perf_counter() - start)


def inference_limit(
    client: TritonClient,
    design: str,
    mix: dict[str, float],
    input_size: int,
    *,
    batch: int,
    in_flight: int,
    seconds: float,
) -> float:
    """Frames/s of ``design`` through Triton alone at ``batch``; models of a split design weighted by ``mix``.

    A frame of condition c costs ``1 / fps(model_for(c))``; the design's limit is the inverse of the mean
    cost over the mix (models that serve several conditions are measured once).
    """
    frames = np.random.default_rng(0).integers(0, 256, (batch, input_size, input_size, 3), dtype=np.uint8)
    chosen = get_design(design)
    fps = {m: _fps_in_flight(client, m, frames, in_flight, seconds) for m in chosen.served_models}
    cost = sum(share / fps[chosen.model_for(c)] for c, share in mix.items() if share > 0)
    return 1.0 / cost if cost > 0 else 0.0
