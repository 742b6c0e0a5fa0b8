"""Demo weights: trained on first use on the synthetic world, cached by model config and settings.

The demo must show real detections on synthetic cameras without a training step by hand. The first call
trains the plans the requested designs need (a few minutes on two cores, with a progress bar); later calls
find the weights under ``<cache>/demo-weights/<key>/``, where ``key`` hashes the model config, the training
settings and the data set settings, so a changed config never loads stale weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from pipeline.models.model_config import ModelConfig
from pipeline.train.checkpoint import weights_path
from pipeline.train.data import default_cache_dir, load_split, synthetic_dataset
from pipeline.train.plan import TrainPlan, plans_for
from pipeline.train.trainer import TrainSettings, train_plan

logger = logging.getLogger(__name__)

DEMO_SETTINGS = TrainSettings(
    steps=600, batch_size=16, lr=6e-3, checkpoint_every=50, crop=128, min_radius=1, shared_start=0.75
)
"""Chosen from measurement on this 2-core machine for the demo design ``specialists-condition``, on
camera-like frames (:data:`DEMO_SOURCE`). The old settings (200 steps, batch 12, 96-px crops, lr 3e-3,
square frames) gave mAP@0.5 0.018 and found no clip object at score >= 0.3. Each lever (batch 16 of
128-px crops; clip recall = labelled objects >= 100 px^2 found at score >= 0.3 with the right class on
640x360 day/dusk/night clips stretched to 160):

- camera-like frames, 400 steps, lr 4e-3, min radius 1: mAP 0.21, recall 0.54 (night mAP 0.10).
- + ``shared_start=0.5`` (the specialists start from one model trained on every frame): mAP 0.29,
  recall 0.65 (night 0.25).
- + lr 6e-3, ``shared_start=0.75``: mAP 0.32 (day 0.36, dusk 0.39, night 0.31), recall 0.79.
- the same with 600 steps (these settings): mAP 0.48 (0.54, 0.54, 0.45), recall 0.87 (0.95 any class).
- ``monolith`` with the compute of 400 specialist steps (270 steps): mAP 0.18, recall 0.28.

On a near-idle machine the first demo start (render 600 frames ~30 s, then train) took ~105 s with 400
steps; 600 steps add ~40 s. Under other engineers' load (load average 5) training runs 2-3x slower.
Train longer (``camfleet train --steps 2000 --crop 128``) for more accuracy."""

DEMO_IMAGES = 600
"""Frames in the synthetic demo data set (train and val together)."""

DEMO_SOURCE: tuple[int, int] | None = (640, 360)
"""The demo cameras' frame size (``pipeline.runtime.demo.CLIP_SIZE``): demo frames are rendered at it and
stretched to the square input as the pipeline stretches camera frames. Square-rendered frames make objects
1.78x shorter than the cameras show them, and a model trained on them missed most objects in the clips."""


def demo_key(
    config: ModelConfig,
    settings: TrainSettings,
    *,
    images: int,
    source: tuple[int, int] | None = DEMO_SOURCE,
) -> str:
    """A short hash of everything the demo weights depend on."""
    blob = json.dumps(
        {
            "config": config.model_dump(mode="json"),
            "settings": settings.model_dump(mode="json"),
            "images": images,
            "source": list(source) if source else None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _missing(plan: TrainPlan, weights_dir: Path) -> bool:
    return not all(weights_path(weights_dir, name).is_file() for name in plan.models)


def ensure_demo_weights(
    config: ModelConfig,
    designs: Sequence[str],
    *,
    cache_dir: Path | None = None,
    settings: TrainSettings = DEMO_SETTINGS,
    images: int = DEMO_IMAGES,
    source: tuple[int, int] | None = DEMO_SOURCE,
    progress: bool = True,
) -> Path:
    """Return a folder of ``<registry_name>.pt`` weights for ``designs``, training what is missing.

    Args:
        config: model sizes (the input size is also the synthetic frame size).
        designs: design names (or ``all``) the demo will run.
        cache_dir: camfleet's cache folder (default: :func:`default_cache_dir`).
        settings: training settings (part of the cache key).
        images: synthetic frames to generate (part of the cache key).
        source: camera frame size (width, height) the synthetic frames are rendered at and stretched
            from, as the pipeline stretches the demo cameras' frames; ``None``: square frames (part of
            the cache key).
        progress: show progress bars.
    """
    cache_dir = cache_dir or default_cache_dir()
    weights_dir = cache_dir / "demo-weights" / demo_key(config, settings, images=images, source=source)
    plans = {plan.name: plan for design in designs for plan in plans_for(design)}
    todo = [plan for plan in plans.values() if _missing(plan, weights_dir)]
    if not todo:
        return weights_dir
    logger.info("training demo weights for %s into %s", ", ".join(p.name for p in todo), weights_dir)
    root = synthetic_dataset(
        cache_dir, images=images, size=config.input_size, seed=settings.seed, source=source
    )
    samples = load_split(root, "train", size=config.input_size)
    for plan in todo:
        # resume=True: a demo start that was interrupted continues where it stopped.
        train_plan(config, plan, samples, weights_dir, settings, resume=True, progress=progress)
    return weights_dir
