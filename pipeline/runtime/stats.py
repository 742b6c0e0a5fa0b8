"""Live counters of a running pipeline, per camera and in total, for the live table and ``/metrics``."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class CameraLiveStats:
    """What the driver knows about one camera."""

    camera_id: str
    model: str = ""
    condition: str = ""
    state: str = "connecting"
    frames_in: int = 0
    frames_inferred: int = 0
    frames_skipped_motion: int = 0
    detections: int = 0
    events: int = 0
    dropped_decode_queue: int = 0
    reconnects: int = 0
    last_error: str | None = None
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=512))
    _done_times: deque[float] = field(default_factory=lambda: deque(maxlen=512))

    def record_result(self, *, latency_ms: float, detections: int, now: float) -> None:
        """Count one inferred frame."""
        self.frames_inferred += 1
        self.detections += detections
        self.latencies_ms.append(latency_ms)
        self._done_times.append(now)

    def fps(self, now: float, window_s: float = 5.0) -> float:
        """Inferred frames per second over the last ``window_s`` seconds."""
        recent = [t for t in self._done_times if now - t <= window_s]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def latency_percentile(self, q: float) -> float:
        """Capture-to-result latency percentile (ms) over recent frames; NaN when none."""
        return float(np.percentile(list(self.latencies_ms), q)) if self.latencies_ms else float("nan")

    def snapshot(self, now: float) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "camera_id": self.camera_id,
            "state": self.state,
            "model": self.model,
            "condition": self.condition,
            "fps": round(self.fps(now), 2),
            "frames_in": self.frames_in,
            "frames_inferred": self.frames_inferred,
            "frames_skipped_motion": self.frames_skipped_motion,
            "detections": self.detections,
            "events": self.events,
            "dropped_decode_queue": self.dropped_decode_queue,
            "reconnects": self.reconnects,
            "latency_p50_ms": round(self.latency_percentile(50), 2),
            "latency_p99_ms": round(self.latency_percentile(99), 2),
            "last_error": self.last_error,
        }


@dataclass
class PipelineStats:
    """Counters of the whole pipeline."""

    started: float = field(default_factory=time.monotonic)
    cameras: dict[str, CameraLiveStats] = field(default_factory=dict)
    scheduler_switches: int = 0
    ray_calls: int = 0

    def camera(self, camera_id: str) -> CameraLiveStats:
        """The stats of ``camera_id``, created on first use."""
        stats = self.cameras.get(camera_id)
        if stats is None:
            stats = self.cameras[camera_id] = CameraLiveStats(camera_id)
        return stats

    def aggregate_fps(self, now: float) -> float:
        """Sum of the cameras' inferred fps."""
        return sum(c.fps(now) for c in self.cameras.values())
