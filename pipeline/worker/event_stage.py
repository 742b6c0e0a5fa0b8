"""The last stage of the pipeline: a frame's detections -> tracker per camera -> events -> Redis sink."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from pipeline.config import CameraConfig
from pipeline.events.config import EventsConfig
from pipeline.events.decode import decode_detections
from pipeline.events.schema import Event
from pipeline.events.sink import RedisEventSink
from pipeline.events.tracker import CameraTracker
from pipeline.ingest.frames import Frame

logger = logging.getLogger(__name__)


class EventStage:
    """Tracks objects per camera and publishes the events; counts what it published per camera."""

    def __init__(self, events: EventsConfig, *, input_size: int, sink: RedisEventSink) -> None:
        self.events = events
        self.input_size = input_size
        self.sink = sink
        self.published: dict[str, int] = {}
        self._trackers: dict[str, CameraTracker] = {}
        self._last_frame_id: dict[str, int] = {}

    def handle(
        self, camera: CameraConfig, frame: Frame, model: str, detections: npt.NDArray[np.float32]
    ) -> int | None:
        """Track one frame's ``[K, 6]`` detections and publish the events they cause.

        Returns:
            The detections confident enough to start a track, or None when the frame was older than one
            already handled (two models in flight after a switch can finish out of order) and was dropped.
        """
        if frame.frame_id <= self._last_frame_id.get(camera.id, -1):
            return None
        self._last_frame_id[camera.id] = frame.frame_id
        decoded = decode_detections(
            detections,
            input_size=self.input_size,
            frame_size=frame.source_size,
            score_threshold=self.events.score_threshold,
        )
        tracker = self._trackers.get(camera.id)
        if tracker is None:
            tracker = CameraTracker(
                camera.id, model=model, fps=camera.fps, events=self.events, camera=camera.events
            )
            self._trackers[camera.id] = tracker
        tracker.model = model
        self._publish(
            camera.id, tracker.update(decoded, frame_time=frame.wall_time, frame_size=frame.source_size)
        )
        scores = np.asarray(decoded.confidence if decoded.confidence is not None else (), np.float32)
        return int(np.count_nonzero(scores >= self.events.track_threshold))

    def close(self, camera_id: str) -> None:
        """The camera stopped: its open tracks end with object_left."""
        self._last_frame_id.pop(camera_id, None)
        tracker = self._trackers.pop(camera_id, None)
        if tracker is not None:
            self._publish(camera_id, tracker.close())

    def close_all(self) -> None:
        """Close every camera's tracks (at shutdown)."""
        for camera_id in list(self._trackers):
            self.close(camera_id)

    def _publish(self, camera_id: str, events: list[Event]) -> None:
        if events:
            self.sink.publish(events)
            self.published[camera_id] = self.published.get(camera_id, 0) + len(events)
