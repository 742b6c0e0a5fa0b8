"""The training sample record, and an in-memory data set of coloured rectangles for tests.

A :class:`Sample` is what the trainer and the evaluator consume: one uint8 RGB frame, its boxes in pixels
and global class ids, and the lighting condition when the data set records it. The world's YOLO reader
(:mod:`pipeline.world.dataset`) yields the same four fields; :mod:`pipeline.train.data` converts them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from pipeline.models.classes import CLASS_NAMES, CONDITIONS

logger = logging.getLogger(__name__)

ImageArray = npt.NDArray[np.uint8]
"""A uint8 RGB frame ``[H, W, 3]``."""
BoxArray = npt.NDArray[np.float32]
"""Boxes ``[N, 4]`` (x1, y1, x2, y2) in pixels."""
ClassArray = npt.NDArray[np.int64]
"""Global class ids ``[N]``."""

_BRIGHTNESS = {"day": 1.0, "dusk": 0.6, "night": 0.3}


@dataclass(frozen=True)
class Sample:
    """One labelled frame.

    Attributes:
        image: uint8 RGB ``[H, W, 3]``.
        boxes: float32 ``[N, 4]`` boxes (x1, y1, x2, y2) in pixels of ``image``.
        classes: int64 ``[N]`` global class ids (indices into ``CLASS_NAMES``).
        condition: lighting condition (one of ``CONDITIONS``), or ``None`` when the data set has no tag.
    """

    image: ImageArray
    boxes: BoxArray
    classes: ClassArray
    condition: str | None

    def __post_init__(self) -> None:
        if self.image.dtype != np.uint8 or self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(f"image must be uint8 [H, W, 3], got {self.image.dtype} {self.image.shape}")
        if self.boxes.shape != (len(self.classes), 4):
            raise ValueError(f"boxes {self.boxes.shape} do not match {len(self.classes)} class ids")
        if self.condition is not None and self.condition not in CONDITIONS:
            raise ValueError(f"unknown condition {self.condition!r}; known: {', '.join(CONDITIONS)}")


def resize_sample(sample: Sample, size: int) -> Sample:
    """Resize a sample to a square ``size`` x ``size`` frame, scaling its boxes.

    IoU is invariant under scaling each axis, so accuracy measured on the resized frames equals accuracy
    on the originals.
    """
    height, width = sample.image.shape[:2]
    if height == size and width == size:
        return sample
    image = torch.from_numpy(sample.image).permute(2, 0, 1).unsqueeze(0).float()
    resized = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    pixels = resized[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    scale = np.array([size / width, size / height, size / width, size / height], dtype=np.float32)
    return Sample(pixels, sample.boxes * scale, sample.classes, sample.condition)


def _class_colour(class_id: int) -> npt.NDArray[np.float32]:
    # A fixed, well-spread hue per class keeps the task learnable in a few hundred steps.
    hue = class_id / len(CLASS_NAMES)
    rgb = np.array([np.cos(2 * np.pi * (hue + k / 3)) for k in range(3)]) * 0.5 + 0.5
    return (40 + 215 * rgb).astype(np.float32)


def rectangle_samples(
    count: int,
    *,
    size: int = 64,
    seed: int = 0,
    classes: Sequence[int] = (0, 4, 13),
    conditions: Sequence[str] | None = CONDITIONS,
    max_objects: int = 3,
) -> list[Sample]:
    """An easy in-memory data set: solid rectangles, one colour per class, dimmed by the condition.

    Args:
        count: number of frames.
        size: frame side in pixels.
        seed: random seed; the same arguments give the same frames.
        classes: global class ids to draw from.
        conditions: conditions to cycle through, or ``None`` for untagged frames (shown as daylight).
        max_objects: at most this many rectangles per frame (at least one).
    """
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(count):
        condition = conditions[index % len(conditions)] if conditions else None
        image = np.full((size, size, 3), 90.0, dtype=np.float32) + rng.normal(0, 4, (size, size, 3))
        boxes, ids = [], []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            w, h = rng.uniform(0.15, 0.4, 2) * size
            x1, y1 = rng.uniform(0, size - w), rng.uniform(0, size - h)
            class_id = int(rng.choice(classes))
            image[int(y1) : int(y1 + h), int(x1) : int(x1 + w)] = _class_colour(class_id)
            boxes.append((int(x1), int(y1), int(x1 + w), int(y1 + h)))
            ids.append(class_id)
        image *= _BRIGHTNESS[condition or "day"]
        samples.append(
            Sample(
                image=np.clip(image, 0, 255).astype(np.uint8),
                boxes=np.array(boxes, dtype=np.float32).reshape(-1, 4),
                classes=np.array(ids, dtype=np.int64),
                condition=condition,
            )
        )
    return samples
