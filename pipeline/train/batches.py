"""Batches: which frames each step draws (balanced across conditions), random crops and flips.

The frames of step ``n`` depend only on ``(seed, n)``, so a resumed run draws exactly what an
uninterrupted one would have.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch

from pipeline.train.samples import BoxArray, ClassArray, Sample

logger = logging.getLogger(__name__)


class BatchSampler:
    """Draws the frame indices of step ``n`` from ``(seed, n)`` alone, so a resumed run repeats nothing."""

    def __init__(self, samples: Sequence[Sample], *, batch_size: int, seed: int) -> None:
        self.batch_size = batch_size
        self.seed = seed
        conditions = {s.condition for s in samples}
        self.tagged = None not in conditions
        pools: dict[str | None, list[int]] = {}
        for index, sample in enumerate(samples):
            pools.setdefault(sample.condition if self.tagged else None, []).append(index)
        self.pools = [np.array(pool) for _, pool in sorted(pools.items(), key=lambda kv: str(kv[0]))]

    def indices(self, step: int) -> npt.NDArray[np.int64]:
        """Frame indices of step ``step`` (as many from each condition as the batch allows)."""
        rng = np.random.default_rng([self.seed, step])
        share = [self.batch_size // len(self.pools)] * len(self.pools)
        for k in range(self.batch_size % len(self.pools)):
            share[(step + k) % len(self.pools)] += 1
        return np.concatenate(
            [rng.choice(pool, n, replace=len(pool) < n) for pool, n in zip(self.pools, share, strict=True)]
        )


def _crop(sample: Sample, crop: int, rng: np.random.Generator) -> Sample:
    height, width = sample.image.shape[:2]
    if not crop or (crop >= height and crop >= width):
        return sample
    x0, y0 = int(rng.integers(0, width - crop + 1)), int(rng.integers(0, height - crop + 1))
    shifted = sample.boxes - np.array([x0, y0, x0, y0], dtype=np.float32)
    clipped = np.clip(shifted, 0, crop)
    area = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
    kept = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    # A box cut to less than half its area is dropped: its centre would no longer be the object's.
    keep = kept >= 0.5 * np.maximum(area, 1e-6)
    image = sample.image[y0 : y0 + crop, x0 : x0 + crop]
    return Sample(np.ascontiguousarray(image), clipped[keep], sample.classes[keep], sample.condition)


def make_batch(
    samples: Sequence[Sample],
    indices: npt.NDArray[np.int64],
    *,
    flip: npt.NDArray[np.bool_],
    crop: int,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, list[BoxArray], list[ClassArray]]:
    """Stack the frames at ``indices`` (cropped, and mirrored where ``flip``) with their boxes and classes."""
    images, boxes, classes = [], [], []
    for index, mirrored in zip(indices, flip, strict=True):
        sample = _crop(samples[int(index)], crop, rng)
        image, frame_boxes = sample.image, sample.boxes
        if mirrored:
            width = image.shape[1]
            image = image[:, ::-1]
            frame_boxes = np.stack(
                [width - frame_boxes[:, 2], frame_boxes[:, 1], width - frame_boxes[:, 0], frame_boxes[:, 3]],
                axis=1,
            )
        images.append(np.ascontiguousarray(image))
        boxes.append(frame_boxes)
        classes.append(sample.classes)
    return torch.from_numpy(np.stack(images)), boxes, classes
