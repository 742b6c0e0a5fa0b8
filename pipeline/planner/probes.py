"""Probes of the machine around the model: decode, parallel cores, and the per-detection cost of tracking.

Each probe runs the real component (PyAV on a synthetic H.264 clip, torch on every core, camfleet's own
detection decoding and ByteTrack) and returns figures a :class:`HardwareProfile` stores. None of them
depends on a model config.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.planner.hardware import DecodePoint
from pipeline.planner.timing import median_s

logger = logging.getLogger(__name__)

__all__ = ["fit_line", "measure_decode", "measure_detection_cost", "measure_usable_cores", "median_s"]

_DECODE_WARMUP_FRAMES = 5


def fit_line(sizes: Sequence[float], seconds: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``seconds = fixed + per_unit * size``, both clipped at 0."""
    slope, intercept = np.polyfit(np.asarray(sizes, float), np.asarray(seconds, float), 1)
    return max(float(intercept), 0.0), max(float(slope), 0.0)


def measure_decode(
    scratch: Path, resolutions: Sequence[tuple[int, int]], *, input_size: int, seconds: float
) -> list[DecodePoint]:
    """Decode (one thread) and resize to ``input_size`` a synthetic H.264 clip per resolution."""
    import av
    from av.video.reformatter import VideoReformatter

    from pipeline.ingest.clips import write_test_clip

    points = []
    for width, height in resolutions:
        clip = write_test_clip(
            scratch / f"decode_{width}x{height}.mp4", seconds=seconds, size=(width, height)
        )
        reformatter = VideoReformatter()
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            stream.thread_count = 1
            start, frames = time.perf_counter(), 0
            for index, frame in enumerate(container.decode(stream)):
                rgb = reformatter.reformat(frame, input_size, input_size, format="rgb24")
                np.asarray(rgb.to_ndarray(), dtype=np.uint8)
                if index == _DECODE_WARMUP_FRAMES - 1:
                    # The decoder's first frames pay its set-up; a camera decodes for hours.
                    start, frames = time.perf_counter(), 0
                else:
                    frames += 1
            elapsed = time.perf_counter() - start
        points.append(DecodePoint(width=width, height=height, fps_per_core=frames / elapsed))
        logger.debug("decode %dx%d: %.0f fps/core", width, height, frames / elapsed)
    return points


def measure_usable_cores(cores: int, *, seconds: float = 1.0) -> float:
    """Cores' worth of work ``cores`` threads do at once (each running one-thread torch convolutions).

    A two-core VM with a noisy neighbour or hyper-threads does less than two cores of work; the system
    model shares this many cores between decode, workers, Triton and inference.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    # A few milliseconds per call, so the threads spend their time in torch with the GIL released.
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.randn(1, 64, 56, 56)

    def work(deadline: float, counts: list[int], slot: int) -> None:
        with torch.inference_mode():
            while time.perf_counter() < deadline:
                conv(x)
                counts[slot] += 1

    def run(threads: int) -> float:
        counts = [0] * threads
        deadline = time.perf_counter() + seconds
        pool = [threading.Thread(target=work, args=(deadline, counts, i)) for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return sum(counts) / seconds

    try:
        with torch.inference_mode():
            for _ in range(20):
                conv(x)
        alone = run(1)
        together = run(cores)
    finally:
        torch.set_num_threads(previous)
    usable = min(float(cores), together / alone)
    logger.debug("usable cores: %.2f of %d", usable, cores)
    return usable


def measure_detection_cost(*, rows: Sequence[int] = (4, 64), frames: int = 60) -> float:
    """Seconds per kept detection of decoding and tracking (camfleet's own path: decode, ByteTrack, events).

    Steady boxes with a little jitter are tracked for ``frames`` frames at each count of ``rows``; the
    slope between the counts is the cost of one more detection.
    """
    from pipeline.events.config import EventsConfig
    from pipeline.events.decode import decode_detections
    from pipeline.events.tracker import CameraTracker

    rng = np.random.default_rng(0)
    per_frame = []
    for count in rows:
        tracker = CameraTracker("probe", model="probe", fps=10.0, events=EventsConfig())
        side = int(np.ceil(np.sqrt(count)))
        grid = np.array([[(i % side) / side, (i // side) / side] for i in range(count)]) * 150
        boxes = np.concatenate([grid, grid + 150 / side / 2], axis=1)
        start = time.process_time()
        for frame in range(frames):
            jitter = rng.normal(0, 0.3, boxes.shape)
            rows_k6 = np.column_stack([boxes + jitter, np.full(count, 0.6), np.arange(count) % 20]).astype(
                np.float32
            )
            decoded = decode_detections(rows_k6, input_size=160, frame_size=(640, 360), score_threshold=0.1)
            tracker.update(decoded, frame_time=frame / 10.0, frame_size=(640, 360))
        per_frame.append((time.process_time() - start) / frames)
    slope = (per_frame[-1] - per_frame[0]) / (rows[-1] - rows[0])
    logger.debug("tracking: %s s/frame at %s rows", per_frame, list(rows))
    return max(float(slope), 0.0)
