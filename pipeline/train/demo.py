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

DEMO_SETTINGS = TrainSettings(steps=200, batch_size=12, lr=3e-3, checkpoint_every=50, crop=96)
"""Chosen from measurement on this 2-core machine, with 12-frame batches of 96-px crops. Idle, the plans
ran at 8.8 (monolith), 13 (condition specialists), 7.4 (group specialists) and 5.5 (shared trunk + 6
heads) steps/s: 200 steps take ~100 s. Under other engineers' load (load average 5-9) the same work was
3-4x slower (150 steps of all four plans: 187 s; monolith alone, 400 steps: 195 s), so 200 steps keep the
first demo start under 5 minutes with the data set generation (~12 s). That budget buys little accuracy
(mAP@0.5 below 0.03 for every design after 150 steps): demo detections are few and low-scored; train
longer (``camfleet train --steps 2000 --crop 96``) for useful accuracy."""

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
