"""A group of cameras in one process: a reader thread and a drop-oldest queue per camera, one ``take``.

:class:`CameraGroup` is plain Python (testable without Ray); :mod:`pipeline.ingest.actor` wraps it as a Ray
actor. All its methods are thread-safe, because the actor serves calls on several threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.errors import StreamError
from pipeline.ingest.camera import CameraReader
from pipeline.ingest.frames import CameraStats, Frame, FrameBatch
from pipeline.ingest.queue import DropOldestQueue
from pipeline.ingest.source import SourceFactory, pyav_source
from pipeline.ingest.spec import CameraSpec

logger = logging.getLogger(__name__)


@dataclass
class _Camera:
    reader: CameraReader
    queue: DropOldestQueue[Frame]


class CameraGroup:
    """Reads 1..N cameras on one reader thread each; :meth:`take` drains their queues fairly."""

    def __init__(
        self,
        specs: list[CameraSpec] | None = None,
        *,
        source_factory: SourceFactory = pyav_source,
        notify: Callable[[], None] | None = None,
    ) -> None:
        """Create the group and start a reader for each of ``specs``.

        Args:
            specs: Cameras to start reading now.
            source_factory: Builds each camera's source (PyAV by default).
            notify: Called on a reader thread after each queued frame (to wake a consumer's loop).

        Raises:
            StreamError: if two specs share a camera id.
        """
        self._factory = source_factory
        self._notify = notify
        self._cameras: dict[str, _Camera] = {}
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._rotate = 0
        self._stopped = False
        for spec in specs or []:
            self.add_camera(spec)

    def add_camera(self, spec: CameraSpec) -> None:
        """Start reading ``spec`` now.

        Raises:
            StreamError: if a camera with that id is already in the group, or the group is stopped.
        """
        queue: DropOldestQueue[Frame] = DropOldestQueue(spec.queue_size)

        def sink(frame: Frame) -> None:
            queue.put(frame)
            with self._ready:
                self._ready.notify()
            if self._notify is not None:
                self._notify()

        reader = CameraReader(spec, sink, source_factory=self._factory)
        with self._lock:
            if self._stopped:
                raise StreamError("camera group is stopped")
            if spec.camera_id in self._cameras:
                raise StreamError(f"camera {spec.camera_id} is already in this group")
            self._cameras[spec.camera_id] = _Camera(reader, queue)
        reader.start()
        logger.info("camera %s added (%s)", spec.camera_id, spec.safe_url)

    def remove_camera(self, camera_id: str) -> CameraStats:
        """Stop reading ``camera_id``, drop its queued frames and return its final stats.

        Raises:
            StreamError: if the group has no such camera.
        """
        with self._lock:
            camera = self._cameras.pop(camera_id, None)
        if camera is None:
            raise StreamError(f"no camera {camera_id} in this group")
        camera.reader.stop()
        camera.queue.clear()
        logger.info("camera %s removed", camera_id)
        return _stats(camera)

    def camera_ids(self) -> list[str]:
        """Ids of the cameras in the group."""
        with self._lock:
            return list(self._cameras)

    def take(self, max_frames: int, timeout_s: float = 0.0, gather_s: float = 0.0) -> list[Frame]:
        """Remove and return up to ``max_frames`` frames, oldest first per camera, round-robin over cameras.

        Args:
            max_frames: Most frames to return.
            timeout_s: Wait this long for at least one frame when every queue is empty (0: never wait).
            gather_s: Once a frame is ready, wait up to this long for ``max_frames`` of them, so one call
                carries several frames (fewer Ray calls per frame, at most ``gather_s`` more latency).
        """
        with self._ready:
            if timeout_s > 0:
                self._ready.wait_for(self._has_frames, timeout_s)
            if gather_s > 0 and self._has_frames():
                self._ready.wait_for(lambda: self._queued() >= max_frames, gather_s)
            cameras = list(self._cameras.values())
            # Start at a different camera each call so a small max_frames does not starve the last ones.
            if cameras:
                self._rotate = (self._rotate + 1) % len(cameras)
                cameras = cameras[self._rotate :] + cameras[: self._rotate]
        out: list[Frame] = []
        while len(out) < max_frames:
            got = 0
            for camera in cameras:
                if len(out) >= max_frames:
                    break
                item = camera.queue.get_many(1)
                out.extend(item)
                got += len(item)
            if got == 0:
                break
        return out

    def take_batch(self, max_frames: int, timeout_s: float = 0.0, gather_s: float = 0.0) -> FrameBatch | None:
        """Like :meth:`take`, stacked into one :class:`FrameBatch`; None when no frame is ready.

        Raises:
            ValueError: if the cameras of the group produce different frame sizes.
        """
        frames = self.take(max_frames, timeout_s, gather_s)
        return FrameBatch.from_frames(frames) if frames else None

    def _has_frames(self) -> bool:
        return any(len(c.queue) for c in self._cameras.values())

    def _queued(self) -> int:
        return sum(len(c.queue) for c in self._cameras.values())

    def stats(self) -> dict[str, CameraStats]:
        """A snapshot of every camera's counters, by camera id."""
        with self._lock:
            cameras = dict(self._cameras)
        return {cid: _stats(camera) for cid, camera in cameras.items()}

    def stop(self) -> dict[str, CameraStats]:
        """Stop every reader (they stop in parallel) and return their final stats."""
        with self._lock:
            self._stopped = True
            cameras, self._cameras = self._cameras, {}
        for camera in cameras.values():
            camera.reader.request_stop()
        for camera in cameras.values():
            camera.reader.stop()
        return {cid: _stats(camera) for cid, camera in cameras.items()}


def _stats(camera: _Camera) -> CameraStats:
    reader = camera.reader
    return CameraStats(
        camera_id=reader.spec.camera_id,
        state=reader.state,
        decoded=reader.decoded,
        sampled=reader.sampled,
        dropped=camera.queue.dropped,
        skipped_to_live=reader.skipped_to_live,
        reconnects=reader.reconnects,
        errors=reader.errors,
        last_error=reader.last_error,
        fps=reader.fps,
        queued=len(camera.queue),
        cpu_s=reader.cpu_s,
    )
