"""Configuration of the events stage: zones per camera, tracking and event rules, and the Redis sink.

These models are leaves of the top-level ``cameras.yaml`` tree; they read nothing from the environment.
The Redis password is resolved by the entry point with :meth:`RedisConfig.password_from_env`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

logger = logging.getLogger(__name__)

UnitFloat = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[UnitFloat, UnitFloat]

PASSWORD_ENV = "CAMFLEET_REDIS_PASSWORD"
"""Environment variable holding the Redis password."""
PASSWORD_FILE_ENV = "CAMFLEET_REDIS_PASSWORD_FILE"
"""Environment variable naming a file that holds the Redis password (a Kubernetes secret mount)."""


class ZoneConfig(BaseModel):
    """A named polygon in normalised frame coordinates (0..1), so it survives resolution changes.

    ``name`` and ``polygon`` have no default on purpose: a zone without a shape means nothing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Zone name, published in each event's `zones` list.",
    )
    polygon: list[Point] = Field(
        min_length=3,
        description="Polygon vertices as [x, y] in 0..1 of the frame width and height, in order.",
    )

    @model_validator(mode="after")
    def _has_area(self) -> ZoneConfig:
        xs = [p[0] for p in self.polygon]
        ys = [p[1] for p in self.polygon]
        # Shoelace formula: collinear or repeated points give a zone nothing can ever be inside.
        area = 0.5 * abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(xs))))
        if area <= 1e-9:
            raise ValueError(f"zone {self.name!r}: polygon has no area")
        return self


class CameraEventsConfig(BaseModel):
    """Per-camera event settings: zones and whether objects outside every zone are ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zones: list[ZoneConfig] = Field(default_factory=list, description="Zones of this camera.")
    only_in_zones: bool = Field(
        default=False,
        description="Publish events only for objects whose bottom-centre point lies inside a zone.",
    )

    @model_validator(mode="after")
    def _check_zones(self) -> CameraEventsConfig:
        names = [zone.name for zone in self.zones]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate zone names: {', '.join(duplicates)}")
        if self.only_in_zones and not self.zones:
            raise ValueError("only_in_zones is set but the camera has no zones")
        return self


class EventsConfig(BaseModel):
    """Detection filtering, tracking and event timing, shared by all cameras."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score_threshold: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Detections below this score are dropped before tracking (ByteTrack's low pass).",
    )
    track_threshold: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Score a detection needs to start a track (ByteTrack's activation threshold).",
    )
    match_threshold: float = Field(
        default=0.8, gt=0.0, le=1.0, description="ByteTrack matching threshold (1 - IoU cost)."
    )
    confirm_frames: int = Field(
        default=3,
        ge=1,
        le=100,
        description=(
            "ByteTrack's minimum_consecutive_frames: 1 confirms (enters) a track on its first frame, "
            "N > 1 after N more matched frames; filters one-frame false positives."
        ),
    )
    seen_interval_s: float = Field(
        default=5.0, gt=0.0, le=3600.0, description="Seconds between object_seen events of one track."
    )
    lost_timeout_s: float = Field(
        default=2.0,
        gt=0.0,
        le=600.0,
        description="Seconds a track may go unseen before object_left is published.",
    )

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> EventsConfig:
        if self.score_threshold > self.track_threshold:
            raise ValueError(
                f"score_threshold ({self.score_threshold}) must not exceed track_threshold "
                f"({self.track_threshold})"
            )
        return self


class RedisConfig(BaseModel):
    """Where events go: a Redis URL (or the embedded server), key names, buffering and timeouts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        default=None,
        description="redis://, rediss:// or unix:// URL; None starts the embedded redis-server.",
    )
    stream_key: str = Field(default="camfleet:events", min_length=1, description="Capped stream key.")
    channel_prefix: str = Field(
        default="camfleet:events",
        min_length=1,
        description="Pub/sub channel of a camera is `<channel_prefix>:<camera_id>`.",
    )
    stream_maxlen: int = Field(
        default=100_000, ge=100, description="Approximate cap on stream length (XADD MAXLEN ~)."
    )
    buffer_size: int = Field(
        default=10_000, ge=1, description="Events kept while Redis is down; the oldest are dropped."
    )
    batch_size: int = Field(default=500, ge=1, description="Most events written in one pipeline.")
    socket_timeout_s: float = Field(default=1.0, gt=0.0, le=60.0, description="Read/write timeout.")
    connect_timeout_s: float = Field(default=1.0, gt=0.0, le=60.0, description="Connect timeout.")
    retry_initial_s: float = Field(
        default=0.1, gt=0.0, le=60.0, description="First back-off after a failed write."
    )
    retry_max_s: float = Field(default=5.0, gt=0.0, le=600.0, description="Longest back-off.")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("url must start with redis://, rediss:// or unix://")
        return url

    @model_validator(mode="after")
    def _backoff_ordered(self) -> RedisConfig:
        if self.retry_initial_s > self.retry_max_s:
            raise ValueError("retry_initial_s must not exceed retry_max_s")
        return self

    @staticmethod
    def password_from_env(environ: Mapping[str, str]) -> str | None:
        """Return the Redis password from ``CAMFLEET_REDIS_PASSWORD`` or the file named by ``..._FILE``.

        Args:
            environ: the environment to read (pass ``os.environ`` from the entry point).

        Returns:
            The password, or None when neither variable is set.
        """
        if environ.get(PASSWORD_ENV):
            return environ[PASSWORD_ENV]
        path = environ.get(PASSWORD_FILE_ENV)
        if path:
            return Path(path).read_text(encoding="utf-8").strip()
        return None
