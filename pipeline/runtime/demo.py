"""The demo on embedded defaults: synthetic cameras in mixed conditions, trained demo weights, local parts."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.models.export import export_repository
from pipeline.models.model_config import ModelConfig
from pipeline.runtime.services import missing_weights, models_to_load
from pipeline.train.demo import ensure_demo_weights
from pipeline.world.clips import Schedule, write_clip

logger = logging.getLogger(__name__)

DEMO_DESIGN = "specialists-condition"
CLIP_SECONDS = 30.0
CLIP_SIZE = (640, 360)
CLIP_FPS = 10
# Camera k gets condition k mod 4; the fourth kind cycles day -> dusk -> night so the scheduler switches.
CAMERA_KINDS = ("day", "dusk", "night", "cycle")


def demo_clips(cameras: int, cache_dir: Path) -> list[tuple[str, Path]]:
    """Write (once, cached) one synthetic clip per camera; return (kind, path) pairs."""
    clips = []
    for index in range(cameras):
        kind = CAMERA_KINDS[index % len(CAMERA_KINDS)]
        path = cache_dir / "demo-clips" / f"cam{index}-{kind}.mp4"
        if not path.exists():
            schedule = Schedule.cycle(CLIP_SECONDS) if kind == "cycle" else None
            condition = "day" if kind == "cycle" else kind
            write_clip(
                path,
                condition=condition,
                seconds=CLIP_SECONDS,
                size=CLIP_SIZE,
                fps=CLIP_FPS,
                seed=index,
                schedule=schedule,
            )
        clips.append((kind, path))
    return clips


def demo_config(cameras: int, *, redis_url: str | None, design: str, cache_dir: Path) -> PipelineConfig:
    """A pipeline config for ``cameras`` synthetic cameras, routed by scene brightness."""
    camera_list = [
        {"id": f"cam{index}", "url": str(path), "fps": CLIP_FPS, "loop": True}
        for index, (_kind, path) in enumerate(demo_clips(cameras, cache_dir))
    ]
    return PipelineConfig.model_validate(
        {
            "design": design,
            "cameras": camera_list,
            "scheduler": {"policy": {"type": "brightness"}},
            "redis": {"url": redis_url},
            "control": {"enabled": False},
        }
    )


def demo_repository(config: PipelineConfig, model_config: ModelConfig, cache_dir: Path) -> Path:
    """Train (once, cached) the demo weights of the design and export them into a Triton repository."""
    weights = ensure_demo_weights(model_config, [config.design], cache_dir=cache_dir, source=CLIP_SIZE)
    repository = weights / "triton_models"
    needed = models_to_load(config)
    if missing_weights(repository, needed) or not repository.exists():
        export_repository(model_config, repository, weights=weights, models=needed)
    return repository
