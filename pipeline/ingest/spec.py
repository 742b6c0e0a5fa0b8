"""What one camera is: its URL, target fps, model input size, timeouts and how to reconnect.

These are pydantic models so that the camera list of the config tree (``cameras.yaml``) can embed them and
validate them once at start-up.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.ingest.redact import redact_url

logger = logging.getLogger(__name__)

NETWORK_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "tcp://", "udp://", "rtmp://", "srt://")


class BackoffConfig(BaseModel):
    """Exponential backoff between reconnect attempts: ``min(max_s, initial_s * factor**n)`` +- jitter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_s: float = Field(0.5, gt=0, description="Delay before the first retry, seconds.")
    factor: float = Field(2.0, ge=1.0, description="Growth of the delay per failed attempt.")
    max_s: float = Field(30.0, gt=0, description="Cap on the delay, seconds.")
    jitter: float = Field(0.2, ge=0.0, le=1.0, description="Relative jitter: delay * (1 +- jitter).")


class CameraSpec(BaseModel):
    """One camera as the ingest stage opens it.

    ``url`` is a local file path or a ``rtsp://``, ``http://``, ``tcp://`` (or other FFmpeg) URL. A local
    file behaves like a live camera with ``realtime=True`` and ``loop=True`` (the defaults for files).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str = Field(..., min_length=1, description="Unique id of the camera.")
    url: str = Field(..., min_length=1, description="File path or stream URL; may carry credentials.")
    fps: float | None = Field(
        5.0, gt=0, description="Target frames per second, sampled by timestamp; None keeps every frame."
    )
    width: int = Field(160, ge=8, le=8192, description="Model input width the frames are resized to.")
    height: int = Field(160, ge=8, le=8192, description="Model input height the frames are resized to.")
    condition: str | None = Field(None, description="Lighting condition hint for the scheduler, if known.")
    rtsp_transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport (RTSP URLs only).")
    open_timeout_s: float = Field(5.0, gt=0, description="Timeout to open the stream, seconds.")
    read_timeout_s: float = Field(5.0, gt=0, description="Timeout for one read; bounds how long stop waits.")
    realtime: bool | None = Field(
        None, description="Pace a file at its frame rate like a live camera; None: True for files."
    )
    loop: bool | None = Field(None, description="Restart a file at its end; None: True for files.")
    decode_threads: int = Field(1, ge=0, le=64, description="FFmpeg decoder threads (0: FFmpeg decides).")
    queue_size: int = Field(8, ge=1, le=10_000, description="Frames kept per camera; the oldest drops.")
    max_lag_s: float | None = Field(
        1.0,
        gt=0,
        le=600,
        description="A network stream read this many seconds behind its camera skips to the next keyframe "
        "near live (counted as skipped_to_live); None: never skip.",
    )
    backoff: BackoffConfig = Field(default_factory=BackoffConfig, description="Reconnect backoff.")

    @model_validator(mode="after")
    def _check_backoff(self) -> CameraSpec:
        if self.backoff.max_s < self.backoff.initial_s:
            raise ValueError("backoff.max_s must be at least backoff.initial_s")
        return self

    @property
    def is_file(self) -> bool:
        """True when :attr:`url` is a local file path (or ``file:`` URL), not a network stream."""
        return not self.url.lower().startswith(NETWORK_SCHEMES)

    @property
    def is_realtime(self) -> bool:
        """Whether decoding is paced at the stream's own rate (network streams pace themselves)."""
        return self.is_file if self.realtime is None else self.realtime and self.is_file

    @property
    def is_looping(self) -> bool:
        """Whether a file restarts at its end (network streams reconnect instead)."""
        return self.is_file if self.loop is None else self.loop and self.is_file

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames this camera produces."""
        return self.width, self.height

    @property
    def safe_url(self) -> str:
        """:attr:`url` with credentials redacted, for logs and errors."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"CameraSpec(camera_id={self.camera_id!r}, url={self.safe_url!r})"

    def __str__(self) -> str:
        return repr(self)
