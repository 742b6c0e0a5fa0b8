"""Detections matched to ground truth once, so a bootstrap resample costs a weighted sum, not a COCO run.

COCO's AP@0.5 (area ``all``, 100 detections per image) depends on a frame only through its detections'
scores, whether each one matched a ground-truth box at IoU >= 0.5, and its count of ground-truth boxes per
class. :class:`FrameMatches` computes these per frame and class with COCO's own greedy rule (detections in
descending score take the unmatched box of highest IoU), then evaluates any weighting of frames: a resample
drawn with replacement is the count of each frame in it. A frame drawn ``c`` times adds its detections ``c``
times to the precision-recall curve and its boxes ``c`` times to the recall denominator, exactly what
COCO computes on the resampled set (only detections of equal score in different frames could order
differently, and float scores practically never tie). Boxes are ``x2 >= x1, y2 >= y1``, as the head decodes
them (COCO's areas of inverted boxes would differ).

``pipeline.train.evaluate`` keeps faster-coco-eval for the point estimates; the tests check that both give
the same figures, on the full set and on resamples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.models.classes import CLASS_NAMES
from pipeline.train.samples import Sample

IOU_THRESHOLD = 0.5
MAX_DETECTIONS = 100
"""COCO's per-image cap, applied per image and class as ``COCOeval`` does."""
_RECALL_POINTS = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class _ClassMatches:
    """One class over every frame: detections sorted by descending score, and boxes per frame."""

    frame: npt.NDArray[np.int64]
    """The frame of each detection."""
    true_positive: npt.NDArray[np.bool_]
    boxes_per_frame: npt.NDArray[np.int64]


def _iou(detections: npt.NDArray[np.float64], boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """IoU of every detection with every box, both ``[N, 4]`` (x1, y1, x2, y2)."""
    x1 = np.maximum(detections[:, None, 0], boxes[None, :, 0])
    y1 = np.maximum(detections[:, None, 1], boxes[None, :, 1])
    x2 = np.minimum(detections[:, None, 2], boxes[None, :, 2])
    y2 = np.minimum(detections[:, None, 3], boxes[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_d = (detections[:, 2] - detections[:, 0]) * (detections[:, 3] - detections[:, 1])
    area_b = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area_d[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _match(iou: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """COCO's greedy matching of one frame and class, detections (rows of ``iou``) in descending score."""
    taken = np.zeros(iou.shape[1], dtype=bool)
    matched = np.zeros(iou.shape[0], dtype=bool)
    for d in range(iou.shape[0]):
        candidates = np.where(taken, -1.0, iou[d])
        best = int(np.argmax(candidates)) if len(candidates) else -1
        if best >= 0 and candidates[best] >= IOU_THRESHOLD:
            taken[best] = True
            matched[d] = True
    return matched


class FrameMatches:
    """Per-frame, per-class matches of one design's detections, evaluated under any frame weights."""

    def __init__(self, samples: Sequence[Sample], detections: Sequence[npt.NDArray[np.float32]]) -> None:
        """Match every frame's detections (``[K, 6]`` rows, score 0 meaning none) to its boxes."""
        self.frames = len(samples)
        per_class: dict[int, tuple[list[int], list[float], list[bool]]] = {}
        boxes_per_frame = np.zeros((len(CLASS_NAMES), self.frames), dtype=np.int64)
        for index, (sample, rows) in enumerate(zip(samples, detections, strict=True)):
            rows = rows[rows[:, 4] > 0].astype(np.float64)
            for class_id in range(len(CLASS_NAMES)):
                boxes = sample.boxes[sample.classes == class_id].astype(np.float64)
                boxes_per_frame[class_id, index] = len(boxes)
                mine = rows[rows[:, 5] == class_id]
                if not len(mine):
                    continue
                mine = mine[np.argsort(-mine[:, 4], kind="mergesort")][:MAX_DETECTIONS]
                matched = _match(_iou(mine[:, :4], boxes))
                frames, scores, hits = per_class.setdefault(class_id, ([], [], []))
                frames.extend([index] * len(mine))
                scores.extend(mine[:, 4].tolist())
                hits.extend(matched.tolist())
        self._classes: dict[int, _ClassMatches] = {}
        for class_id in range(len(CLASS_NAMES)):
            frames, scores, hits = per_class.get(class_id, ([], [], []))
            order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
            self._classes[class_id] = _ClassMatches(
                frame=np.asarray(frames, dtype=np.int64)[order],
                true_positive=np.asarray(hits, dtype=bool)[order],
                boxes_per_frame=boxes_per_frame[class_id],
            )

    def average_precision(self, class_id: int, weights: npt.NDArray[np.float64]) -> float | None:
        """AP@0.5 of one class with each frame counted ``weights[frame]`` times; None without boxes."""
        matches = self._classes[class_id]
        positives = float(matches.boxes_per_frame @ weights)
        if positives <= 0:
            return None
        counted = weights[matches.frame]
        keep = counted > 0
        counted, hits = counted[keep], matches.true_positive[keep]
        if not len(counted):
            return 0.0
        tp = np.cumsum(np.where(hits, counted, 0.0))
        fp = np.cumsum(np.where(hits, 0.0, counted))
        recall = tp / positives
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # COCO: precision never rises with recall
        at = np.searchsorted(recall, _RECALL_POINTS, side="left")
        sampled = np.where(at < len(precision), precision[np.minimum(at, len(precision) - 1)], 0.0)
        return float(sampled.mean())

    def map50(
        self, weights: npt.NDArray[np.float64] | None = None, class_ids: Sequence[int] | None = None
    ) -> float | None:
        """Mean AP@0.5 over ``class_ids`` (default: all) with boxes under ``weights`` (default: 1 each)."""
        weights = np.ones(self.frames) if weights is None else weights
        values = [
            ap
            for class_id in (range(len(CLASS_NAMES)) if class_ids is None else class_ids)
            if (ap := self.average_precision(class_id, weights)) is not None
        ]
        return float(np.mean(values)) if values else None


def frame_counts(order: Sequence[int], frames: int) -> npt.NDArray[np.float64]:
    """How often each of ``frames`` frames occurs in a resampled ``order``."""
    return np.bincount(np.asarray(order, dtype=np.int64), minlength=frames).astype(np.float64)
