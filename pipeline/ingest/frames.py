"""Frame types of the ingest stage: one decoded frame, a batch of frames, camera state and statistics.

A :class:`Frame` holds host memory (a uint8 RGB numpy array at the model input size). The GPU-resident path
(NVDEC to DLPack, see DESIGN.md "Later: GPU-resident frames") will add a frame type whose ``image`` is a
DLPack tensor; everything downstream of :class:`~pipeline.ingest.source.VideoSource` only needs the metadata
fields below plus something it can hand to Triton.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
"""A uint8 RGB image, shape ``[H, W, 3]``."""


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One sampled, resized frame of one camera.

    Attributes:
        camera_id: The camera it came from.
        frame_id: Sequence number of sampled frames of this camera, from 0, increasing across reconnects.
        capture_ts: ``time.monotonic()`` when the frame left the decoder (the latency clock).
        wall_time: ``time.time()`` at the same moment (for events and display only).
        image: uint8 RGB ``[H, W, 3]`` at the model input size (stretched, not letterboxed).
        source_size: ``(width, height)`` of the decoded stream, to scale boxes back.
        media_time_s: Presentation time in the stream in seconds, or None when the stream has none.
    """

    camera_id: str
    frame_id: int
    capture_ts: float
    wall_time: float
    image: Image
    source_size: tuple[int, int]
    media_time_s: float | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of :attr:`image`."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    @property
    def scale(self) -> tuple[float, float]:
        """``(sx, sy)`` that map a box on :attr:`image` back to source pixels (``x_src = x * sx``)."""
        width, height = self.size
        return self.source_size[0] / width, self.source_size[1] / height


@dataclass(frozen=True, slots=True, eq=False)
class FrameBatch:
    """Several frames, possibly from several cameras, with their images stacked into one array.

    One contiguous ``[N, H, W, 3]`` array travels through Ray's object store as one buffer, and is what a
    Triton request wants.

    Attributes:
        camera_ids: Camera of each row.
        frame_ids: Frame id of each row.
        capture_ts: Monotonic capture time of each row.
        wall_times: Wall-clock capture time of each row.
        images: uint8 ``[N, H, W, 3]``.
        source_sizes: ``(width, height)`` of the source of each row.
    """

    camera_ids: tuple[str, ...]
    frame_ids: tuple[int, ...]
    capture_ts: tuple[float, ...]
    wall_times: tuple[float, ...]
    images: npt.NDArray[np.uint8]
    source_sizes: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.camera_ids)

    @classmethod
    def from_frames(cls, frames: Sequence[Frame]) -> FrameBatch:
        """Stack ``frames`` into a batch.

        Raises:
            ValueError: if ``frames`` is empty or the images differ in shape.
        """
        if not frames:
            raise ValueError("cannot build a FrameBatch from no frames")
        shapes = {f.image.shape for f in frames}
        if len(shapes) != 1:
            raise ValueError(f"frames of one batch must share a shape, got {sorted(shapes)}")
        return cls(
            camera_ids=tuple(f.camera_id for f in frames),
            frame_ids=tuple(f.frame_id for f in frames),
            capture_ts=tuple(f.capture_ts for f in frames),
            wall_times=tuple(f.wall_time for f in frames),
            images=np.stack([f.image for f in frames]),
            source_sizes=tuple(f.source_size for f in frames),
        )

    def frames(self) -> list[Frame]:
        """Split the batch back into frames (the images are views into :attr:`images`)."""
        return [
            Frame(cam, fid, ts, wall, self.images[i], src)
            for i, (cam, fid, ts, wall, src) in enumerate(
                zip(
                    self.camera_ids,
                    self.frame_ids,
                    self.capture_ts,
                    self.wall_times,
                    self.source_sizes,
                    strict=True,
                )
            )
        ]


class CameraState(enum.Enum):
    """Where a camera reader is in its life cycle."""

    CONNECTING = "connecting"
    RUNNING = "running"
    BACKING_OFF = "backing_off"
    FAILED = "failed"  # a bug in camfleet, not a stream error: it is not retried (see the log)
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class CameraStats:
    """A snapshot of one camera's counters.

    Attributes:
        camera_id: The camera.
        state: Its state when the snapshot was taken.
        decoded: Frames decoded (before sampling), over all connections.
        sampled: Frames kept by the fps sampler and queued.
        dropped: Sampled frames the bounded queue dropped because the consumer was slower.
        skipped_to_live: Frames left undecoded because the reader was behind the live camera.
        reconnects: Connection attempts after the first one.
        errors: Errors that ended a connection or an attempt to open one.
        last_error: The last error, URL redacted, or None.
        fps: Sampled frames per second over the last few seconds.
        queued: Frames waiting in the queue now.
        cpu_s: CPU seconds of its reader thread (open, demux, decode, sampling, resize).
    """

    camera_id: str
    state: CameraState
    decoded: int = 0
    sampled: int = 0
    dropped: int = 0
    skipped_to_live: int = 0
    reconnects: int = 0
    errors: int = 0
    last_error: str | None = None
    fps: float = 0.0
    queued: int = 0
    cpu_s: float = 0.0
