"""Turn a model's fixed-size ``[K, 6]`` detections into tracker input in source-frame pixels.

The model returns rows ``x1, y1, x2, y2, score, class_id`` in model-input pixels, padded with zero-score
rows to a fixed K. Ingest resizes each frame to the model input without letterboxing, so x and y scale
independently from input size to frame size.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import supervision as sv

from pipeline.models.classes import CLASS_NAMES

logger = logging.getLogger(__name__)

Size = tuple[int, int]
"""(width, height) in pixels."""


def _as_size(size: int | Size, what: str) -> Size:
    width, height = (size, size) if isinstance(size, int) else size
    if width <= 0 or height <= 0:
        raise ValueError(f"{what} must be positive, got {size}")
    return int(width), int(height)


def decode_detections(
    detections: npt.NDArray[np.floating[Any]],
    *,
    input_size: int | Size,
    frame_size: Size,
    score_threshold: float,
    num_classes: int = len(CLASS_NAMES),
) -> sv.Detections:
    """Filter and rescale one frame's detections for the tracker.

    Drops padding (score 0), rows below ``score_threshold``, rows with non-finite values or an unknown
    class id, and boxes that are empty after clipping to the frame.

    Args:
        detections: float array ``[K, 6]`` of one frame, boxes in model-input pixels.
        input_size: the model's input size, an int for square inputs or (width, height).
        frame_size: the source frame's (width, height).
        score_threshold: minimum score to keep; padding rows are dropped even when it is 0.
        num_classes: number of known classes; rows with a class id outside ``[0, num_classes)`` go.

    Returns:
        ``sv.Detections`` with ``xyxy`` (float32, source-frame pixels), ``confidence`` and ``class_id``.

    Raises:
        ValueError: if ``detections`` is not ``[K, 6]`` or a size is not positive.
    """
    if detections.ndim != 2 or detections.shape[1] != 6:
        raise ValueError(f"detections must have shape [K, 6], got {list(detections.shape)}")
    in_w, in_h = _as_size(input_size, "input_size")
    frame_w, frame_h = _as_size(frame_size, "frame_size")

    rows = np.asarray(detections, dtype=np.float32)
    scores = rows[:, 4]
    class_ids = np.rint(rows[:, 5])
    keep = (
        np.isfinite(rows).all(axis=1)
        & (scores > 0.0)
        & (scores >= score_threshold)
        & (class_ids >= 0)
        & (class_ids < num_classes)
    )
    rows = rows[keep]
    class_ids = class_ids[keep]

    scale = np.array([frame_w / in_w, frame_h / in_h, frame_w / in_w, frame_h / in_h], dtype=np.float32)
    boxes = rows[:, :4] * scale
    np.clip(boxes[:, 0::2], 0.0, float(frame_w), out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0.0, float(frame_h), out=boxes[:, 1::2])
    non_empty = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])

    return sv.Detections(
        xyxy=boxes[non_empty].astype(np.float32, copy=False),
        confidence=np.clip(rows[non_empty, 4], 0.0, 1.0).astype(np.float32),
        class_id=class_ids[non_empty].astype(int),
    )
