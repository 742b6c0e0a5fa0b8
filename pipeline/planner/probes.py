"""Probes of the machine around the model: decode and the cores' parallel throughput.

Each probe runs the real component (PyAV on a synthetic H.264 clip, torch and Python on every core) and
returns figures a :class:`HardwareProfile` stores. None of them depends on a model config.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.planner.hardware import DecodePoint
from pipeline.planner.timing import median_s

logger = logging.getLogger(__name__)

__all__ = ["measure_decode", "measure_usable_cores", "median_s"]

_DECODE_WARMUP_FRAMES = 5


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


def _mixed_work(seconds: float) -> int:
    """Rounds of half torch convolution, half Python, done in ``seconds`` (one process, one thread)."""
    import torch

    torch.set_num_threads(1)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.randn(1, 64, 56, 56)
    rounds, deadline = 0, time.perf_counter() + seconds
    with torch.inference_mode():
        conv(x)
        while time.perf_counter() < deadline:
            conv(x)
            total = 0
            for i in range(20_000):  # about as long as the convolution: decode glue, tracking, batching
                total += i * i
            rounds += 1
    return rounds


def measure_usable_cores(cores: int, *, seconds: float = 1.0) -> float:
    """Cores' worth of work ``cores`` processes do at once, each mixing torch and Python work.

    Every stage of the pipeline is its own process or thread (Triton instances, camera workers, Redis);
    a two-vCPU VM whose cores share caches and memory bandwidth does less than two cores of work, and
    the system model shares this many cores between them.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    ratios = []
    with context.Pool(cores) as pool:
        pool.map(_mixed_work, [0.2] * cores)  # start-up and first calls
        for _ in range(3):
            alone = pool.apply(_mixed_work, (seconds,))
            together = sum(pool.map(_mixed_work, [seconds] * cores))
            ratios.append(together / max(alone, 1))
    usable = min(float(cores), statistics.median(ratios))
    logger.debug("usable cores: %.2f of %d", usable, cores)
    return usable
