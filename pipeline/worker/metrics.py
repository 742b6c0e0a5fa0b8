"""Prometheus counters exported by each camera worker through Ray's metrics agent, where they are made.

Every Ray node runs a metrics agent that Prometheus scrapes (on Kubernetes, the Ray pods' metrics port);
a worker adds its counters there with ``ray.util.metrics``. The counters are advanced from the worker's own
typed :class:`~pipeline.status.WorkerStatus` about once a second, by the difference since the last export,
so the frame path pays nothing per frame.
"""

from __future__ import annotations

import logging

from ray.util.metrics import Counter, Gauge

from pipeline.status import CameraStatus, WorkerStatus

logger = logging.getLogger(__name__)

_CAMERA_COUNTERS = {
    "frames_decoded": "Frames decoded.",
    "frames_in": "Frames sampled and routed.",
    "frames_inferred": "Frames inferred and tracked.",
    "frames_skipped_motion": "Frames the motion gate held back.",
    "frames_malformed": "Frames of the wrong shape or type, skipped.",
    "dropped_decode_queue": "Frames dropped by the camera's bounded queue (consumer behind).",
    "skipped_to_live": "Frames left undecoded: the reader was over max_lag_s behind the live camera.",
    "dropped_late": "Frames dropped before inference: their model was behind, or they were too old.",
    "detections": "Confident detections.",
    "events": "Events published.",
    "reconnects": "Stream reconnects.",
}
_WORKER_COUNTERS = {
    "requests": "Triton requests sent.",
    "request_errors": "Triton requests that failed.",
    "dropped_behind": "Frames dropped because their model was behind the latency budget.",
    "dropped_stale": "Frames dropped because they were older than max_frame_age_s at send time.",
    "dropped_inference_error": "Frames lost with a failed request.",
}


class WorkerMetrics:
    """The metric families of one worker (names prefixed ``camfleet_``; Ray adds ``ray_``)."""

    def __init__(self, worker_id: str) -> None:
        """Declare the metrics, tagged with ``worker``."""
        self._tags = {"worker": worker_id}
        self._camera = {
            key: Counter(f"camfleet_camera_{key}", doc, tag_keys=("worker", "camera"))
            for key, doc in _CAMERA_COUNTERS.items()
        }
        self._worker = {
            key: Counter(f"camfleet_worker_{key}", doc, tag_keys=("worker",))
            for key, doc in _WORKER_COUNTERS.items()
        }
        self._fps = Gauge("camfleet_camera_fps", "Inferred frames per second.", tag_keys=("worker", "camera"))
        self._last: dict[tuple[str, str], int] = {}

    def export(self, status: WorkerStatus) -> None:
        """Advance every counter to ``status`` (a counter that went back, after a restart, starts again)."""
        for camera in status.cameras:
            tags = {**self._tags, "camera": camera.camera_id}
            for key, counter in self._camera.items():
                self._advance(counter, (camera.camera_id, key), _value(camera, key), tags)
            self._fps.set(camera.fps, tags=tags)
        batcher = status.batcher
        for key, counter in self._worker.items():
            self._advance(counter, ("", key), int(getattr(batcher, key)), self._tags)

    def _advance(self, counter: Counter, key: tuple[str, str], value: int, tags: dict[str, str]) -> None:
        delta = value - self._last.get(key, 0)
        self._last[key] = value
        if delta > 0:
            counter.inc(delta, tags=tags)


def _value(camera: CameraStatus, key: str) -> int:
    return int(getattr(camera, key))
