"""Typed state of a running fleet, shared by the workers, the controller, the REST API, metrics and the CLI.

Camera workers build a :class:`WorkerStatus` on their own loop thread; the controller gathers them into a
:class:`FleetStatus`; the status page, ``GET /cameras``, ``/metrics`` and ``camfleet run``'s live table all
read that one object. Everything here is a frozen dataclass of plain values, so it crosses Ray as it is.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from pipeline.batching.batcher import BatcherStats
from pipeline.events.sink import SinkStats


@dataclass(frozen=True, slots=True)
class LoadSignal:
    """The fleet's load as Triton sees it, read by the controller and handed to every worker.

    Attributes:
        queue_ms: Mean time a request waited in Triton's queue over the last window, per served model
            (for an ensemble: the sum over its steps), over every server.
        compute_ms: Mean compute time per request over the same window, per served model.
        window_s: Length of the window the means cover.
        at: ``time.time()`` when it was read.
    """

    queue_ms: dict[str, float] = field(default_factory=dict)
    compute_ms: dict[str, float] = field(default_factory=dict)
    window_s: float = 0.0
    at: float = 0.0

    def queue_for(self, model: str | None) -> float | None:
        """Queue time of ``model``, or the worst over every model when it is None; None when unknown."""
        if model is not None:
            return self.queue_ms.get(model)
        return max(self.queue_ms.values()) if self.queue_ms else None


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """One Triton server as a worker's balancer sees it."""

    url: str
    healthy: bool
    outstanding: int
    requests: int
    failures: int


@dataclass(frozen=True, slots=True)
class MeasurementWindow:
    """A span of capture times (wall clock, s) whose frames a measurement counts, e.g. a load-test point.

    Frames count by when their camera sent them, not when they were decoded or inferred: a backlog
    buffered during warm-up (in the socket or the queues) and drained inside the window is discarded (and
    counted as such), and frames sent before the end count even when their result comes after it. Send
    times are estimated from stream timestamps against each worker's clock (:mod:`pipeline.capture_clock`;
    one machine, or NTP-synchronised nodes).
    """

    start: float
    end: float

    def __post_init__(self) -> None:
        """Check the span."""
        if not self.end > self.start:
            raise ValueError(f"a measurement window must end after it starts: {self.start} .. {self.end}")

    @property
    def seconds(self) -> float:
        """Its length."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """One camera, as the worker that serves it reports it."""

    camera_id: str
    worker_id: str = ""
    node_id: str = ""
    state: str = "connecting"
    model: str = ""
    condition: str = ""
    fps: float = 0.0
    frames_decoded: int = 0
    frames_in: int = 0
    frames_inferred: int = 0
    frames_skipped_motion: int = 0
    frames_malformed: int = 0
    dropped_decode_queue: int = 0
    skipped_to_live: int = 0
    """Frames the reader left undecoded to catch up with its live camera (it was over max_lag_s behind)."""
    dropped_late: int = 0
    """Frames the batcher dropped: their model was behind (oldest first) or they grew too old to send."""
    detections: int = 0
    events: int = 0
    reconnects: int = 0
    last_error: str | None = None
    latency_p50_ms: float = math.nan
    latency_p99_ms: float = math.nan
    latency_counts: dict[int, int] = field(default_factory=dict)
    """Cumulative capture-to-result latency histogram (see :mod:`pipeline.worker.live_stats`)."""
    window_inferred: int = 0
    """Frames sent inside the current :class:`MeasurementWindow` and inferred so far."""
    window_discarded: int = 0
    """Frames inferred after the window started but sent before it (warm-up backlog)."""
    window_latency_counts: dict[int, int] = field(default_factory=dict)
    """The send-to-result latency histogram of the window's frames (a backlog's wait included)."""
    steady_s: float = 0.0
    """Seconds since its reader last caught up on a backlog (see :mod:`pipeline.capture_clock`): a measurement
    waits until every camera is steady, so that a start-up backlog is not what it measures."""


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One camera worker: its cameras and the counters of its stages.

    Attributes:
        worker_id: The controller's name for the worker (stable across restarts).
        incarnation: Changes each time the worker process starts (a restarted worker holds no cameras).
        node_id: Ray node it runs on.
        pid: Its process id.
        cameras: Every camera it serves.
        batcher: A copy of its per-model batcher's counters.
        sink: Its Redis sink's counters.
        servers: The Triton servers its balancer knows.
        failovers: Requests a failing server handed to another one.
        motion_passed: Frames the motion gate let through (all cameras).
        motion_skipped: Frames it skipped.
        scheduler_switches: Model switches of its streams.
        cpu_seconds: CPU time of the worker's process (decode included).
        decode_cpu_s: CPU time of the reader threads of the cameras it serves (demux, decode, sample, resize).
        loop_cpu_s: CPU time of its loop thread (route, gate, batch, track, publish).
        transport_cpu_s: CPU time of its Triton client threads (build requests, send, read answers).
        at: ``time.time()`` when it was taken.
    """

    worker_id: str
    incarnation: str
    node_id: str
    pid: int
    cameras: tuple[CameraStatus, ...] = ()
    batcher: BatcherStats = field(default_factory=BatcherStats)
    sink: SinkStats = field(default_factory=SinkStats)
    servers: tuple[ServerStatus, ...] = ()
    failovers: int = 0
    motion_passed: int = 0
    motion_skipped: int = 0
    scheduler_switches: int = 0
    cpu_seconds: float = 0.0
    decode_cpu_s: float = 0.0
    loop_cpu_s: float = 0.0
    transport_cpu_s: float = 0.0
    at: float = 0.0

    @property
    def camera_ids(self) -> list[str]:
        """Ids of the cameras it serves."""
        return [camera.camera_id for camera in self.cameras]


@dataclass(frozen=True, slots=True)
class WorkerSummary:
    """A worker as the controller sees it: alive or being replaced, and its latest status."""

    worker_id: str
    alive: bool
    restarts: int
    status: WorkerStatus | None


@dataclass(frozen=True, slots=True)
class FleetStatus:
    """The whole fleet, gathered by the controller about once a second.

    Attributes:
        design: The design served.
        policy: The scheduler policy's type.
        uptime_s: Seconds since the controller started.
        cameras: Every camera placed on a live worker, from that worker's latest status.
        unplaced: Cameras the controller knows but could not place on a worker yet.
        workers: Every worker, alive or not.
        load: The latest load signal handed to the workers.
        replacements: Cameras moved to another worker because theirs died or stopped answering.
        worker_restarts: Worker processes that came back empty and got their cameras again.
        workers_lost: Workers that died or stopped answering and were replaced.
    """

    design: str
    policy: str
    uptime_s: float = 0.0
    cameras: tuple[CameraStatus, ...] = ()
    unplaced: tuple[str, ...] = ()
    workers: tuple[WorkerSummary, ...] = ()
    load: LoadSignal = field(default_factory=LoadSignal)
    replacements: int = 0
    worker_restarts: int = 0
    workers_lost: int = 0

    @property
    def aggregate_fps(self) -> float:
        """Inferred frames per second over every camera."""
        return sum(camera.fps for camera in self.cameras)

    def camera(self, camera_id: str) -> CameraStatus | None:
        """The status of ``camera_id``, or None when it is not served now."""
        return next((c for c in self.cameras if c.camera_id == camera_id), None)

    def live_workers(self) -> list[WorkerStatus]:
        """The latest status of every live worker."""
        return [w.status for w in self.workers if w.alive and w.status is not None]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN and infinities become None, dict keys strings)."""
        data = _json_safe(dataclasses.asdict(self))
        assert isinstance(data, dict)
        data["aggregate_fps"] = round(self.aggregate_fps, 2)
        return data


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
