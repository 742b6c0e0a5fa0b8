"""Cheap frame statistics for the policies and the motion gate, on uint8 RGB frames ``[H, W, 3]``.

Everything works on a strided subsample (every k-th pixel of every k-th row), which reads a few thousand
pixels instead of the whole frame, so the cost is tens of microseconds whatever the frame size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

Frame = npt.NDArray[np.uint8]
"""A uint8 RGB frame, shape ``[H, W, 3]``."""

_LUMA = np.array([0.299, 0.587, 0.114])
# Fixed-point BT.601 weights (sum 256): integer maths keeps the grey frame small and exact.
_LUMA_FIXED = np.array([77, 150, 29], dtype=np.uint16)


@dataclass(frozen=True, slots=True)
class FrameStats:
    """Statistics of one frame.

    Attributes:
        mean_luma: Mean BT.601 luma, 0-255.
        chroma: Mean per-pixel channel spread (max - min), 0-255; near 0 for a grey (IR) frame.
    """

    mean_luma: float
    chroma: float

    def is_grey(self, tolerance: float) -> bool:
        """True when the chroma is at most ``tolerance`` (``BrightnessPolicyConfig.grey_tolerance``)."""
        return self.chroma <= tolerance


def check_frame(frame: npt.NDArray[np.generic]) -> Frame:
    """Return ``frame`` typed as a uint8 RGB frame.

    Raises:
        ValueError: if it is not uint8 with shape ``[H, W, 3]``.
    """
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected a uint8 [H, W, 3] frame, got {frame.dtype} {frame.shape}")
    return frame.view(np.uint8)


def downscale(frame: Frame, width: int) -> Frame:
    """Subsample ``frame`` by one integer step in both axes so it is at most about ``width`` pixels wide.

    A view, not a copy. Striding aliases fine texture, which is fine for means and coarse differences.
    """
    step = max(1, -(-frame.shape[1] // width))
    return frame[::step, ::step]


def frame_stats(frame: Frame, *, width: int = 64) -> FrameStats:
    """Mean luma and chroma of ``frame``, measured on a ``width``-pixel-wide subsample.

    Raises:
        ValueError: if ``frame`` is not a uint8 ``[H, W, 3]`` array.
    """
    small = np.ascontiguousarray(downscale(check_frame(frame), width))
    red, green, blue = small[..., 0], small[..., 1], small[..., 2]
    mean_luma = float((small @ _LUMA).mean())
    # Per-channel max/min beat a reduction over the length-3 axis by several times.
    spread = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    chroma = float(spread.mean())
    return FrameStats(mean_luma=mean_luma, chroma=chroma)


def grey_small(frame: Frame, width: int) -> npt.NDArray[np.int16]:
    """Grey (BT.601 luma, 0-255) version of ``frame`` subsampled to about ``width`` pixels, as int16.

    int16 so that two of them can be subtracted without wrapping.

    Raises:
        ValueError: if ``frame`` is not a uint8 ``[H, W, 3]`` array.
    """
    small = downscale(check_frame(frame), width)
    grey = (small @ _LUMA_FIXED) >> 8
    return grey.astype(np.int16)
