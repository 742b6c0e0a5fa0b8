"""Per-camera object tracking (ByteTrack) and the entered / seen / left event rules, with zones.

Timing uses each frame's capture time, not the wall clock at processing, so a slow or bursty pipeline
neither invents nor hides departures. A track is "entered" when ByteTrack confirms it, "seen" every
``seen_interval_s`` while it stays in view and "left" once unseen for ``lost_timeout_s`` (or on
:meth:`CameraTracker.close`). With ``only_in_zones`` an object outside every zone counts as not in view.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import supervision as sv
from matplotlib.path import Path as PolygonPath

from pipeline.events.config import CameraEventsConfig, EventsConfig
from pipeline.events.decode import Size
from pipeline.events.schema import Box, Event, EventType, frame_datetime
from pipeline.models.classes import CLASS_NAMES

logger = logging.getLogger(__name__)


def make_byte_track(config: EventsConfig, fps: float) -> sv.ByteTrack:
    """Build supervision's ByteTrack so that a track survives ``lost_timeout_s`` of missed frames.

    ``sv.ByteTrack`` is deprecated in supervision 0.28/0.29 in favour of the ``trackers`` package, which
    needs numpy>=2 while nvidia-pytriton pins numpy<2; this is the one place to switch when that lifts.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return sv.ByteTrack(
            track_activation_threshold=config.track_threshold,
            # ByteTrack keeps a lost track for int(frame_rate / 30 * buffer) frames.
            lost_track_buffer=max(1, math.ceil(config.lost_timeout_s * 30.0)),
            minimum_matching_threshold=config.match_threshold,
            frame_rate=fps,
            minimum_consecutive_frames=config.confirm_frames,
        )


@dataclass
class _Track:
    """What the event rules remember about one confirmed track."""

    box: Box
    score: float
    zones: tuple[str, ...]
    last_seen: float
    last_event: float
    class_votes: dict[int, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def class_id(self) -> int:
        # A score-weighted vote keeps the class stable when single frames flip between similar classes.
        return max(self.class_votes.items(), key=lambda item: item[1])[0]


class ZoneMatcher:
    """Point-in-polygon tests of detections' bottom-centre points against normalised zones."""

    def __init__(self, config: CameraEventsConfig) -> None:
        self.names = tuple(zone.name for zone in config.zones)
        self._paths = [PolygonPath(np.asarray(zone.polygon, dtype=np.float64)) for zone in config.zones]

    def match(self, xyxy: npt.ArrayLike, frame_size: Size) -> list[tuple[str, ...]]:
        """Return, per ``[N, 4]`` box, the names of the zones that contain its bottom-centre point."""
        xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        if not self._paths or len(xyxy) == 0:
            return [() for _ in range(len(xyxy))]
        width, height = frame_size
        points = np.column_stack(((xyxy[:, 0] + xyxy[:, 2]) / 2.0 / width, xyxy[:, 3] / height))
        inside = np.stack([path.contains_points(points) for path in self._paths], axis=1)
        return [tuple(n for n, hit in zip(self.names, row, strict=True) if hit) for row in inside]


class CameraTracker:
    """Tracks objects on one camera and turns tracks into events."""

    def __init__(
        self,
        camera_id: str,
        *,
        model: str,
        fps: float,
        events: EventsConfig | None = None,
        camera: CameraEventsConfig | None = None,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.camera_id = camera_id
        self.model = model
        self._config = events or EventsConfig()
        self._camera = camera or CameraEventsConfig()
        self._zones = ZoneMatcher(self._camera)
        self._byte_track = make_byte_track(self._config, fps)
        self._tracks: dict[int, _Track] = {}
        self._last_frame_time: float | None = None

    @property
    def active_tracks(self) -> int:
        """Number of tracks that have entered and not yet left."""
        return len(self._tracks)

    def update(self, detections: sv.Detections, *, frame_time: float, frame_size: Size) -> list[Event]:
        """Feed one frame's detections (source-frame pixels) and return the events it causes.

        Args:
            detections: output of :func:`~pipeline.events.decode.decode_detections` for this frame.
            frame_time: wall-clock capture time of the frame, epoch seconds.
            frame_size: the frame's (width, height), for zone tests.

        Returns:
            Events in order: entered and seen for objects in view, then left for lost tracks.
        """
        self._last_frame_time = frame_time
        tracked = self._byte_track.update_with_detections(detections)
        zones = self._zones.match(tracked.xyxy, frame_size)
        events: list[Event] = []
        seen_now: set[int] = set()
        class_ids = tracked.class_id if tracked.class_id is not None else np.zeros(len(tracked), int)
        confidence = tracked.confidence if tracked.confidence is not None else np.ones(len(tracked))
        track_ids = tracked.tracker_id if tracked.tracker_id is not None else np.zeros(0, int)
        for i, track_id in enumerate(int(t) for t in track_ids):
            if self._camera.only_in_zones and not zones[i]:
                continue
            box: Box = tuple(float(v) for v in tracked.xyxy[i])  # type: ignore[assignment]
            score = float(confidence[i])
            seen_now.add(track_id)
            track = self._tracks.get(track_id)
            if track is None:
                track = _Track(box, score, zones[i], last_seen=frame_time, last_event=frame_time)
                track.class_votes[int(class_ids[i])] += score
                self._tracks[track_id] = track
                events.append(self._event(EventType.ENTERED, track_id, track, frame_time))
                continue
            track.box, track.score, track.zones, track.last_seen = box, score, zones[i], frame_time
            track.class_votes[int(class_ids[i])] += score
            if frame_time - track.last_event >= self._config.seen_interval_s:
                track.last_event = frame_time
                events.append(self._event(EventType.SEEN, track_id, track, frame_time))
        for track_id in [t for t in self._tracks if t not in seen_now]:
            track = self._tracks[track_id]
            if frame_time - track.last_seen >= self._config.lost_timeout_s:
                del self._tracks[track_id]
                events.append(self._event(EventType.LEFT, track_id, track, frame_time))
        return events

    def close(self, frame_time: float | None = None) -> list[Event]:
        """Camera stopped: return object_left for every active track and reset the tracker.

        Args:
            frame_time: time to stamp the events with; default the last frame's capture time.
        """
        when = frame_time if frame_time is not None else self._last_frame_time
        events = (
            [self._event(EventType.LEFT, tid, track, when) for tid, track in self._tracks.items()]
            if when is not None
            else []
        )
        self._tracks.clear()
        self._byte_track.reset()
        return events

    def _event(self, kind: EventType, track_id: int, track: _Track, frame_time: float) -> Event:
        class_id = track.class_id
        return Event(
            type=kind,
            camera_id=self.camera_id,
            class_name=CLASS_NAMES[class_id] if class_id < len(CLASS_NAMES) else str(class_id),
            class_id=class_id,
            box=track.box,
            score=min(1.0, max(0.0, track.score)),
            track_id=track_id,
            model=self.model,
            frame_time=frame_datetime(frame_time),
            zones=track.zones,
        )
