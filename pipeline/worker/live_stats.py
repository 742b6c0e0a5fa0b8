"""Live counters of one camera in its worker, and a latency histogram that windows can be cut from.

The histogram is cumulative with geometric bins (5% wide, 0.5 ms to about a minute), kept sparse, so a
reader can take two readings and get the percentiles of the frames in between (the load tester's measured
window) without the worker keeping every latency.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from pipeline.capture_clock import StreamClock, TimedFrame, WindowCount, WindowCounter
from pipeline.status import MeasurementWindow

_BIN_BASE_MS = 0.5
_BIN_GROWTH = 1.05
_LOG_GROWTH = math.log(_BIN_GROWTH)


def latency_bin(latency_ms: float) -> int:
    """The histogram bin of ``latency_ms`` (bin k covers ``0.5 * 1.05**k`` to ``0.5 * 1.05**(k+1)`` ms)."""
    if latency_ms <= _BIN_BASE_MS:
        return 0
    return int(math.log(latency_ms / _BIN_BASE_MS) / _LOG_GROWTH)


def count_latency(histogram: dict[int, int], latency_ms: float) -> None:
    """Add one frame of ``latency_ms`` to a sparse histogram (bin -> frames)."""
    index = latency_bin(latency_ms)
    histogram[index] = histogram.get(index, 0) + 1


def latency_histogram(latencies_ms: Iterable[float]) -> dict[int, int]:
    """The sparse histogram (bin -> frames) of ``latencies_ms``."""
    histogram: dict[int, int] = {}
    for latency_ms in latencies_ms:
        count_latency(histogram, latency_ms)
    return histogram


def histogram_percentile(counts: Mapping[int, int], q: float) -> float:
    """The ``q``-th percentile (0-100) of a latency histogram, in ms at the bin's middle; NaN when empty."""
    total = sum(counts.values())
    if total <= 0:
        return math.nan
    rank = q / 100.0 * total
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= rank and counts[index] > 0:
            return float(_BIN_BASE_MS * _BIN_GROWTH ** (index + 0.5))
    return float(_BIN_BASE_MS * _BIN_GROWTH ** (max(counts) + 0.5))


def histogram_delta(after: Mapping[int, int], before: Mapping[int, int]) -> dict[int, int]:
    """The frames counted in ``after`` but not in ``before`` (a window of a cumulative histogram)."""
    delta = {k: v - before.get(k, 0) for k, v in after.items()}
    return {k: v for k, v in delta.items() if v > 0}


@dataclass
class CameraLiveStats:
    """What a worker counts about one camera (written by the worker's loop thread only)."""

    camera_id: str
    model: str = ""
    condition: str = ""
    frames_in: int = 0
    frames_inferred: int = 0
    frames_skipped_motion: int = 0
    frames_malformed: int = 0
    detections: int = 0
    latency_counts: dict[int, int] = field(default_factory=dict)
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=512))
    live_source: bool = True
    """Whether frames come at the camera's pace, so that their timestamps date them for windows."""
    clock: StreamClock = field(default_factory=StreamClock)
    window: WindowCounter | None = None
    _done_times: deque[float] = field(default_factory=lambda: deque(maxlen=512))

    def open_window(self, window: MeasurementWindow) -> None:
        """Count the frames sent in ``window`` apart from now on (the previous window's counts go)."""
        self.window = WindowCounter(window.start, window.end)

    def record_result(
        self,
        *,
        latency_ms: float,
        detections: int,
        now: float,
        read_wall: float,
        now_wall: float,
        media_s: float | None,
    ) -> None:
        """Count one inferred frame.

        Args:
            latency_ms: decode-to-result time.
            detections: its confident detections.
            now: ``time.monotonic()`` now.
            read_wall: wall clock when it was decoded.
            now_wall: wall clock now.
            media_s: its stream timestamp (s), which dates it for windows; None when the stream has none.
        """
        self.frames_inferred += 1
        self.detections += detections
        self.latencies_ms.append(latency_ms)
        count_latency(self.latency_counts, latency_ms)
        self._done_times.append(now)
        if not self.live_source:
            media_s = None
        segment = self.clock.observe(media_s, read_wall)
        if self.window is not None:
            self.window.add(TimedFrame(read_wall, now_wall, media_s, segment))

    def window_count(self) -> WindowCount:
        """What the open window counted so far (nothing when none is open)."""
        return self.window.count() if self.window is not None else WindowCount((), 0)

    def fps(self, now: float, window_s: float = 5.0) -> float:
        """Inferred frames per second over the last ``window_s`` seconds."""
        recent = [t for t in self._done_times if now - t <= window_s]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def latency_percentile(self, q: float) -> float:
        """Capture-to-result latency percentile (ms) over recent frames; NaN when none."""
        return float(np.percentile(list(self.latencies_ms), q)) if self.latencies_ms else float("nan")
