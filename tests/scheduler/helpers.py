"""Small builders shared by the scheduler tests."""

from __future__ import annotations

import datetime as dt

import numpy as np

from pipeline.scheduler import CameraLocation, Observation

LONDON = CameraLocation(latitude=51.5074, longitude=-0.1278, timezone="Europe/London")
T0 = dt.datetime(2024, 6, 21, 12, 0, tzinfo=dt.timezone.utc)


def obs(camera_id: str = "cam0", t: float = 0.0, **fields: object) -> Observation:
    """An observation at ``t`` seconds after T0 (monotonic clock = t)."""
    return Observation(camera_id, T0 + dt.timedelta(seconds=t), monotonic_s=t, **fields)  # type: ignore[arg-type]


def solid(rgb: tuple[int, int, int], h: int = 360, w: int = 640) -> np.ndarray:
    """A uint8 frame of one colour."""
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()
