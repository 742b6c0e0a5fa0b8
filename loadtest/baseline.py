"""The naive baseline: what a user writes first, one thread per camera, one frame per request.

Each thread opens its camera with PyAV, decodes every frame, resizes it to the model input and calls
``TritonClient.infer`` with a batch of one over plain gRPC (no shared memory, no batching, no Ray). The
aggregate rate of inferred frames over a window is the figure camfleet must beat; as in camfleet's own
measurement, frames count by when their camera sent them (:mod:`pipeline.capture_clock`), so a backlog
read inside the window does not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import av

from pipeline.capture_clock import StreamClock, TimedFrame, WindowCounter
from pipeline.errors import CamfleetError
from pipeline.models.designs import get_design
from pipeline.serving.client import TritonClient

logger = logging.getLogger(__name__)

_OPEN_TIMEOUT_S = (5.0, 2.0)
_JOIN_S = 10.0
_SETTLE_S = 1.0  # after the window, for the results of frames sent just before its end


@dataclass
class _Counter:
    frames: list[TimedFrame] = field(default_factory=list)
    errors: int = 0


def _camera_loop(
    url: str,
    model: str,
    triton_url: str,
    size: int,
    counter: _Counter,
    stop: threading.Event,
) -> None:
    with TritonClient(triton_url, use_shared_memory=False, retries=0, timeout_s=10.0) as client:
        try:
            container = av.open(url, timeout=_OPEN_TIMEOUT_S)
        except av.FFmpegError as exc:
            logger.warning("naive baseline could not open %s: %s", url, exc)
            counter.errors += 1
            return
        clock = StreamClock()
        try:
            for frame in container.decode(video=0):
                if stop.is_set():
                    return
                read_t = time.monotonic()
                segment = clock.observe(frame.time, read_t)
                image = frame.to_ndarray(width=size, height=size, format="rgb24")
                try:
                    client.infer(model, image[None])
                except CamfleetError:
                    counter.errors += 1
                    continue
                counter.frames.append(TimedFrame(read_t, time.monotonic(), frame.time, segment))
        except av.FFmpegError as exc:
            if not stop.is_set():
                logger.warning("naive baseline lost %s: %s", url, exc)
                counter.errors += 1
        finally:
            container.close()


def naive_fps(
    urls: Sequence[str],
    conditions: Sequence[str],
    design: str,
    triton_url: str,
    input_size: int,
    *,
    warmup_s: float,
    duration_s: float,
) -> float:
    """Aggregate inferred frames/s of one naive thread per camera over ``duration_s`` after ``warmup_s``."""
    chosen = get_design(design)
    stop = threading.Event()
    counters = [_Counter() for _ in urls]
    threads = [
        threading.Thread(
            target=_camera_loop,
            args=(url, chosen.model_for(condition), triton_url, input_size, counter, stop),
            name=f"naive-{k}",
            daemon=True,
        )
        for k, (url, condition, counter) in enumerate(zip(urls, conditions, counters, strict=True))
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(warmup_s)
        opened = time.monotonic()
        window = WindowCounter(opened, opened + duration_s)
        time.sleep(duration_s + _SETTLE_S)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=_JOIN_S)
    for counter in counters:
        for frame in list(counter.frames):
            window.add(frame)
    count = window.count()
    errors = sum(c.errors for c in counters)
    if errors:
        logger.warning("naive baseline: %d errors over %d cameras", errors, len(urls))
    logger.info(
        "naive baseline: %d frames sent in the window, %d backlog frames discarded",
        count.counted,
        count.discarded,
    )
    return count.counted / duration_s
