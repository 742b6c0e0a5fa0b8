"""Video sources: the small interface a camera reader drives, and its PyAV implementation.

A :class:`VideoSource` opens one stream and yields sampled, resized :class:`~pipeline.ingest.frames.Frame`
objects until the stream ends or fails. Reconnecting is not its job (see :mod:`pipeline.ingest.camera`).
Sources are built by a :data:`SourceFactory`, so a GPU-resident source (NVDEC to DLPack) can replace
:class:`PyAVSource` without touching the reader, the queue or the actor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from pipeline.errors import StreamError
from pipeline.ingest.catch_up import CatchUp
from pipeline.ingest.frames import Frame
from pipeline.ingest.redact import redact_text
from pipeline.ingest.spec import CameraSpec

logger = logging.getLogger(__name__)

# A paced file camera that falls this far behind its clock re-anchors instead of bursting to catch up.
_MAX_PACING_LAG_S = 1.0


class VideoSource(Protocol):
    """One open stream that yields sampled frames."""

    @property
    def decoded(self) -> int:
        """Frames decoded since :meth:`open`, sampled or not."""
        ...

    @property
    def skipped_to_live(self) -> int:
        """Frames of a live stream left undecoded since :meth:`open` to catch up with the camera."""
        ...

    def open(self) -> None:
        """Open the stream.

        Raises:
            StreamError: if it cannot be opened or has no video stream (the message is redacted).
        """
        ...

    def frames(self, frame_ids: Iterator[int], stop: threading.Event) -> Iterator[Frame]:
        """Yield sampled frames, numbered from ``frame_ids``, until the stream ends or ``stop`` is set.

        Returns normally at the end of the stream (end of a non-looping file, or a server that closed).

        Raises:
            StreamError: on a read or decode error (the message is redacted).
        """
        ...

    def close(self) -> None:
        """Release the stream; safe to call more than once."""
        ...


SourceFactory = Callable[[CameraSpec], VideoSource]
"""Builds a source for a camera (does no I/O: :meth:`VideoSource.open` does)."""


class FpsSampler:
    """Keeps frames so that kept frames are ``1/fps`` apart in stream time, whatever the source rate."""

    def __init__(self, fps: float | None) -> None:
        self._period = 0.0 if fps is None else 1.0 / fps
        # A frame up to 1 ms early still counts: timestamps are rounded to the stream's time base.
        self._slack = min(1e-3, self._period / 10)
        self._next_due: float | None = None

    def keep(self, t: float) -> bool:
        """Return whether the frame at stream time ``t`` (seconds) is kept."""
        if self._period == 0.0:
            return True
        due = self._next_due
        # First frame, a jump back (stream restarted) or a long gap (packet loss): restart the schedule.
        if due is None or t < due - 2 * self._period or t > due + self._period:
            self._next_due = t + self._period
            return True
        if t + self._slack >= due:
            self._next_due = due + self._period
            return True
        return False


class PyAVSource:
    """A file, RTSP, HTTP or TCP stream decoded with PyAV (FFmpeg), video only, on the CPU.

    Frames are resized by stretching to ``spec.size`` (no letterbox) while converting to ``rgb24``;
    :attr:`Frame.scale` maps boxes back. Only sampled frames are converted, so sampling saves the resize.
    A file with ``spec.is_realtime`` is paced at its own frame rate and with ``spec.is_looping`` restarts at
    its end, so it behaves like a live camera. A network stream whose reader falls more than
    ``spec.max_lag_s`` behind its camera skips to the live edge (:mod:`pipeline.ingest.catch_up`).
    """

    def __init__(self, spec: CameraSpec) -> None:
        self._spec = spec
        self._container: av.container.InputContainer | None = None
        self._decoded = 0
        self._catch_up: CatchUp | None = None
        self._reformatter = VideoReformatter()

    @property
    def decoded(self) -> int:
        """Frames decoded since :meth:`open`, sampled or not."""
        return self._decoded

    @property
    def skipped_to_live(self) -> int:
        """Packets of a live stream left undecoded since :meth:`open` to catch up with the camera."""
        return 0 if self._catch_up is None else self._catch_up.skipped

    def _error(self, action: str, exc: BaseException) -> StreamError:
        detail = redact_text(str(exc), self._spec.url)
        return StreamError(f"camera {self._spec.camera_id} ({self._spec.safe_url}): {action}: {detail}")

    def open(self) -> None:
        """Open the stream with the spec's open/read timeouts.

        Raises:
            StreamError: if it cannot be opened or has no video stream.
        """
        self.close()
        self._container = self._open_container()
        self._decoded = 0
        max_lag_s = None if self._spec.is_file else self._spec.max_lag_s
        self._catch_up = None if max_lag_s is None else CatchUp(self._spec.camera_id, max_lag_s)

    def _open_container(self) -> av.container.InputContainer:
        spec = self._spec
        options: dict[str, str] = {}
        if spec.url.lower().startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = spec.rtsp_transport
        try:
            container = av.open(
                spec.url, mode="r", timeout=(spec.open_timeout_s, spec.read_timeout_s), options=options
            )
        except (av.FFmpegError, OSError) as exc:
            raise self._error("cannot open", exc) from None
        if not container.streams.video:
            container.close()
            raise StreamError(f"camera {spec.camera_id} ({spec.safe_url}): no video stream")
        stream = container.streams.video[0]
        stream.thread_count = spec.decode_threads
        return container

    def frames(self, frame_ids: Iterator[int], stop: threading.Event) -> Iterator[Frame]:
        """Yield sampled, resized frames until the stream ends or ``stop`` is set.

        Raises:
            StreamError: if the stream was not opened, or on a read or decode error.
        """
        if self._container is None:
            raise StreamError(f"camera {self._spec.camera_id}: frames() before open()")
        sampler = FpsSampler(self._spec.fps)
        offset = 0.0  # stream time of the start of the current loop of a looping file
        anchor: tuple[float, float] | None = None  # (monotonic, stream time) of the pacing clock
        while not stop.is_set():
            last_t = offset
            period = 0.0
            container = self._container
            stream = container.streams.video[0]
            if stream.average_rate:
                period = 1.0 / float(stream.average_rate)
            try:
                for vframe in self._decode(container, stream):
                    if stop.is_set():
                        return
                    self._decoded += 1
                    media_t = vframe.time
                    t = time.monotonic() if media_t is None else media_t + offset
                    last_t = t
                    if not sampler.keep(t):
                        continue
                    if self._spec.is_realtime and media_t is not None:
                        anchor = self._pace(anchor, t, stop)
                    rgb = self._reformatter.reformat(
                        vframe, self._spec.width, self._spec.height, format="rgb24"
                    )
                    image = np.asarray(rgb.to_ndarray(), dtype=np.uint8)
                    yield Frame(
                        camera_id=self._spec.camera_id,
                        frame_id=next(frame_ids),
                        capture_ts=time.monotonic(),
                        wall_time=time.time(),
                        image=image,
                        source_size=(vframe.width, vframe.height),
                        media_time_s=t,
                    )
            except av.ExitError:  # FFmpeg gave up waiting: the read timeout ran out
                if stop.is_set():
                    return
                raise StreamError(
                    f"camera {self._spec.camera_id} ({self._spec.safe_url}): stalled: no data for "
                    f"{self._spec.read_timeout_s:g} s (read_timeout_s)"
                ) from None
            except (av.FFmpegError, OSError) as exc:
                raise self._error("read failed", exc) from None
            if not self._spec.is_looping:
                return
            offset = last_t + period
            self._container = self._open_container()

    def _decode(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> Iterator[av.VideoFrame]:
        """Decode the stream's packets, leaving out those :class:`CatchUp` skips while behind."""
        catch_up = self._catch_up
        time_base = float(stream.time_base) if stream.time_base is not None else None
        for packet in container.demux(stream):
            if catch_up is not None and packet.pts is not None and time_base is not None:
                if not catch_up.decode(packet.pts * time_base, packet.is_keyframe, time.monotonic()):
                    continue
            yield from packet.decode()

    def _pace(
        self, anchor: tuple[float, float] | None, t: float, stop: threading.Event
    ) -> tuple[float, float] | None:
        """Sleep until stream time ``t`` is due on the wall clock; return the (possibly new) anchor."""
        now = time.monotonic()
        if anchor is None:
            return now, t
        delay = anchor[0] + (t - anchor[1]) - now
        if delay < -_MAX_PACING_LAG_S:
            return now, t
        if delay > 0:
            stop.wait(delay)
        return anchor

    def close(self) -> None:
        """Close the container; safe to call more than once."""
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except (av.FFmpegError, OSError) as exc:
                logger.debug("camera %s: close failed: %s", self._spec.camera_id, redact_text(str(exc)))


def pyav_source(spec: CameraSpec) -> VideoSource:
    """The default :data:`SourceFactory`: a :class:`PyAVSource` for ``spec``."""
    return PyAVSource(spec)
