"""Tiny synthetic H.264 clips for ingest tests and the decode benchmark, written with PyAV.

The scene renderer in :mod:`pipeline.world` makes realistic clips; these are only moving gradients with some
texture, enough to exercise demuxing, decoding, sampling and resizing, and quick to write.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

logger = logging.getLogger(__name__)


def write_test_clip(
    path: str | Path,
    *,
    seconds: float = 2.0,
    size: tuple[int, int] = (320, 180),
    fps: int = 30,
    seed: int = 0,
    gop: int = 30,
) -> Path:
    """Write an H.264 clip (container from the suffix: ``.mp4``, ``.ts``, ``.mkv``) and return its path.

    Args:
        path: Where to write.
        seconds: Length.
        size: ``(width, height)``, even numbers.
        fps: Frame rate.
        seed: Seed of the texture.
        gop: Frames between key frames.
    """
    out = Path(path)
    width, height = size
    rng = np.random.default_rng(seed)
    # A textured background panning at a constant speed: motion compensation finds it, so the bitrate is
    # that of a camera, not of noise (decode cost depends on bitrate).
    pad = 4 * max(1, round(seconds * fps)) + width
    ys, xs = np.mgrid[0:height, 0:pad]
    base = np.empty((height, pad, 3), dtype=np.uint8)
    base[..., 0] = (xs * 2) % 256
    base[..., 1] = (ys * 3 + xs // 4) % 256
    base[..., 2] = ((xs + ys) // 2) % 256
    base += rng.integers(0, 24, size=(height, pad, 3), dtype=np.uint8)
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.codec_context.gop_size = gop
        stream.options = {"preset": "veryfast", "tune": "zerolatency", "crf": "28"}
        for i in range(max(1, round(seconds * fps))):
            img = np.ascontiguousarray(base[:, 4 * i : 4 * i + width])
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out
