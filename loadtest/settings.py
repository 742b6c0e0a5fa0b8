"""What one load test runs: parsed options, the ``--quick`` preset and the exact per-camera condition mix.

Everything the command line gives is parsed and checked here once, before any process starts, so a typo in
``--mix`` or ``--resolution`` fails in a second instead of after Triton has loaded its models.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pipeline.errors import ConfigError
from pipeline.models.classes import CONDITIONS
from pipeline.models.designs import DESIGNS

logger = logging.getLogger(__name__)

Batching = Literal["client", "server"]
DEFAULT_MIX = "day=0.5,dusk=0.3,night=0.2"
QUICK_DESIGNS = ("monolith", "specialists-condition")
LIMIT_BATCH = 32
"""Batch at which the inference-only limit is measured: what a saturated client batcher sends."""
SERVER_BATCHING_IN_FLIGHT = 16
"""Requests in flight per model when Triton batches (``--batching server``): room for its dynamic batcher."""


@dataclass(frozen=True)
class LoadTestSettings:
    """The options of one ``camfleet loadtest`` run."""

    out: Path
    designs: tuple[str, ...] = tuple(DESIGNS)
    cameras: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    mix: dict[str, float] = field(default_factory=lambda: parse_mix(DEFAULT_MIX))
    batching: Batching = "client"
    fps: float = 10.0
    resolution: tuple[int, int] = (640, 360)
    duration_s: float = 10.0
    warmup_s: float = 3.0
    rtsp: bool = False
    model_config: Path | None = None
    quick: bool = False
    baseline_s: float = 5.0
    limit_s: float = 2.0
    max_batch: int = 32
    shared_memory: bool = True
    clip_dir: Path | None = None
    knee_step: int = 2
    """After the sweep, bisect between the last count that met the target and the first that missed it
    until they are at most this far apart (0: no refinement)."""

    def __post_init__(self) -> None:
        """Check the values that cross-depend."""
        if not self.designs or any(d not in DESIGNS for d in self.designs):
            raise ConfigError(f"unknown design in {list(self.designs)}; known: {', '.join(DESIGNS)}")
        if not self.cameras or any(c < 1 for c in self.cameras):
            raise ConfigError(f"--cameras needs positive counts, got {list(self.cameras)}")
        if not 0 < self.fps <= 60:
            raise ConfigError(f"--fps must be in (0, 60], got {self.fps}")
        if self.duration_s <= 0 or self.warmup_s < 0:
            raise ConfigError("--duration must be > 0 and --warmup >= 0")
        if self.knee_step < 0 or self.baseline_s < 0:
            raise ConfigError("--knee-step must be >= 0 (0: no refinement)")

    @property
    def client_max_batch(self) -> int:
        """Frames per request from the pipeline's batcher: 1 when Triton does the batching."""
        return 1 if self.batching == "server" else self.max_batch

    @property
    def clip_fps(self) -> int:
        """Frame rate of the simulated cameras: the target rounded up (cameras never send less)."""
        return max(1, math.ceil(self.fps))

    def record(self) -> dict[str, str | int | float | bool | list[int] | list[str] | dict[str, float]]:
        """The settings as ``report.json`` records them (the planner's validator reads several keys)."""
        return {
            "designs": list(self.designs),
            "cameras": list(self.cameras),
            "mix": dict(self.mix),
            "batching": self.batching,
            "fps": self.fps,
            "resolution": f"{self.resolution[0]}x{self.resolution[1]}",
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "rtsp": self.rtsp,
            "quick": self.quick,
            "max_batch": self.client_max_batch,
            "shared_memory": self.shared_memory,
            "model_config": str(self.model_config) if self.model_config else "default",
            "knee_step": self.knee_step,
            "baseline": self.baseline_s > 0,
        }


def quick_preset(settings: LoadTestSettings, *, designs_given: bool, cameras_given: bool) -> LoadTestSettings:
    """The ``--quick`` run: two designs, cameras 1, 2, 4, short points and the cheap limits (< 3 min)."""
    return replace(
        settings,
        designs=settings.designs if designs_given else QUICK_DESIGNS,
        cameras=settings.cameras if cameras_given else (1, 2, 4),
        duration_s=min(settings.duration_s, 3.0),
        warmup_s=min(settings.warmup_s, 1.5),
        baseline_s=min(settings.baseline_s, 2.0),
        limit_s=1.0,
        knee_step=0,
        quick=True,
    )


def parse_cameras(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``, sorted and without duplicates."""
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"--cameras must be comma-separated integers, got {text!r}") from None
    return tuple(counts)


def parse_mix(text: str) -> dict[str, float]:
    """``"day=0.5,dusk=0.3,night=0.2"`` -> shares summing to 1 over the three conditions."""
    shares: dict[str, float] = {}
    for part in (p for p in text.split(",") if p.strip()):
        name, _, value = part.partition("=")
        try:
            shares[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--mix wants condition=share pairs, got {part!r}") from None
    unknown = set(shares) - set(CONDITIONS)
    if unknown or any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
        raise ConfigError(f"--mix needs shares >= 0 of {', '.join(CONDITIONS)}, got {text!r}")
    total = sum(shares.values())
    return {c: shares.get(c, 0.0) / total for c in CONDITIONS}


def parse_resolution(text: str) -> tuple[int, int]:
    """``"640x360"`` -> ``(640, 360)``."""
    width, _, height = text.lower().partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        raise ConfigError(f"--resolution must look like 640x360, got {text!r}") from None
    if min(size) < 16 or size[0] % 2 or size[1] % 2:
        raise ConfigError(f"--resolution needs even sides >= 16 (H.264 yuv420p), got {text!r}")
    return size
