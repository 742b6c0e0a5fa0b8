"""Accuracy of a design: mAP@0.5 computed by faster-coco-eval, overall, per condition and per class group.

Ground truth and detections are converted to COCO dictionaries in memory; every figure comes from
``COCOeval_faster`` restricted to a subset of images (a condition) or categories (a class group).

Intervals are a percentile bootstrap over evaluation frames: the frames are resampled with replacement
(within each condition, so every resample keeps the mix), mAP is recomputed on each resample, and the 2.5th
and 97.5th percentiles bound the 95% interval. A resample is evaluated from matches computed once
(:class:`~pipeline.train.matches.FrameMatches`, the same figures as COCO's), so 200 resamples of 3,000
frames take seconds rather than a COCO evaluation each. Designs are compared on the *same* resamples, so
the interval of a difference accounts for frames that are hard for every design; a difference whose
interval excludes zero is called significant.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from faster_coco_eval import COCO, COCOeval_faster

from pipeline.models.classes import CLASS_NAMES, CONDITIONS, GROUPS, class_ids
from pipeline.models.model_config import ModelConfig
from pipeline.train.matches import FrameMatches, frame_counts
from pipeline.train.predict import DesignPredictor
from pipeline.train.samples import Sample, resize_sample

DetectionArray = npt.NDArray[np.float32]
"""Detections of one frame, ``[K, 6]`` rows (x1, y1, x2, y2, score, class id)."""

logger = logging.getLogger(__name__)


Interval = tuple[float, float]


@dataclass(frozen=True)
class DesignAccuracy:
    """mAP@0.5 of one design; ``None`` where the subset has no ground-truth box.

    ``intervals`` holds the bootstrap 95% interval of each figure, keyed ``all``, a condition or a group.
    """

    design: str
    images: int
    map50: float | None
    per_condition: dict[str, float | None] = field(default_factory=dict)
    per_group: dict[str, float | None] = field(default_factory=dict)
    intervals: dict[str, Interval] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def _quiet(*_args: object, **_kwargs: object) -> None:
    """Swallow faster-coco-eval's progress prints."""


def _to_coco(
    samples: Sequence[Sample], detections: Sequence[DetectionArray], order: Sequence[int] | None = None
) -> tuple[COCO, COCO]:
    """COCO ground truth and results of ``samples`` (in ``order``: a resample may repeat a frame)."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    chosen = range(len(samples)) if order is None else order
    for image_id, index in enumerate(chosen, start=1):
        sample, rows = samples[index], detections[index]
        height, width = sample.image.shape[:2]
        images.append({"id": image_id, "width": width, "height": height})
        for (x1, y1, x2, y2), class_id in zip(sample.boxes.tolist(), sample.classes.tolist(), strict=True):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": class_id + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
        for x1, y1, x2, y2, score, class_id in rows.tolist():
            if score > 0:
                results.append(
                    {
                        "image_id": image_id,
                        "category_id": int(class_id) + 1,
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "score": score,
                    }
                )
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(CLASS_NAMES)]
    gt = COCO({"images": images, "annotations": annotations, "categories": categories}, print_function=_quiet)
    return gt, gt.loadRes(results)


def _map50(
    gt: COCO, dt: COCO, *, image_ids: list[int] | None = None, cat_ids: list[int] | None = None
) -> float | None:
    if image_ids == []:
        return None
    evaluator = COCOeval_faster(gt, dt, iouType="bbox", print_function=_quiet)
    if image_ids is not None:
        evaluator.params.imgIds = image_ids
    if cat_ids is not None:
        evaluator.params.catIds = cat_ids
    if not gt.getAnnIds(imgIds=evaluator.params.imgIds, catIds=evaluator.params.catIds):
        return None
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    value = float(evaluator.stats[1])
    return None if value < 0 else value


def _figures(samples: Sequence[Sample], detections: Sequence[DetectionArray]) -> dict[str, float | None]:
    """mAP@0.5 overall (``all``), per condition and per group, by faster-coco-eval."""
    gt, dt = _to_coco(samples, detections)
    figures: dict[str, float | None] = {"all": _map50(gt, dt)}
    for condition in CONDITIONS:
        ids = [i for i, sample in enumerate(samples, start=1) if sample.condition == condition]
        figures[condition] = _map50(gt, dt, image_ids=ids)
    for group in GROUPS:
        figures[group] = _map50(gt, dt, cat_ids=[i + 1 for i in class_ids(group)])
    return figures


def _resampled_figures(
    matches: FrameMatches, in_condition: Mapping[str, npt.NDArray[np.float64]], order: Sequence[int]
) -> dict[str, float | None]:
    """The figures of :func:`_figures` on the frames of a resampled ``order``.

    ``in_condition`` holds, per condition, 1 for each frame of that condition and 0 for the others.
    """
    counts = frame_counts(order, matches.frames)
    figures: dict[str, float | None] = {"all": matches.map50(counts)}
    for condition, mask in in_condition.items():
        chosen = counts * mask
        figures[condition] = matches.map50(chosen) if chosen.any() else None
    for group in GROUPS:
        figures[group] = matches.map50(counts, class_ids(group))
    return figures


def bootstrap_orders(samples: Sequence[Sample], resamples: int, seed: int = 0) -> list[list[int]]:
    """``resamples`` resampled frame orders, each drawn with replacement within every condition."""
    rng = np.random.default_rng(seed)
    strata: dict[str | None, list[int]] = {}
    for index, sample in enumerate(samples):
        strata.setdefault(sample.condition, []).append(index)
    orders = []
    for _ in range(resamples):
        order: list[int] = []
        for members in strata.values():
            order.extend(int(i) for i in rng.choice(members, size=len(members), replace=True))
        orders.append(order)
    return orders


def _interval(values: Sequence[float]) -> Interval:
    low, high = np.percentile(np.asarray(values, dtype=float), [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def accuracy_of(
    design: str,
    samples: Sequence[Sample],
    detections: Sequence[DetectionArray],
    *,
    orders: Sequence[Sequence[int]] = (),
) -> DesignAccuracy:
    """mAP@0.5 of ``detections`` (per frame, ``[K, 6]`` rows in the frame's pixels) against ``samples``.

    With bootstrap ``orders`` (:func:`bootstrap_orders`), every figure also gets its 95% interval.
    """
    point = _figures(samples, detections)
    draws: dict[str, list[float]] = {}
    if orders:
        matches = FrameMatches(samples, detections)
        in_condition = {
            condition: np.array([s.condition == condition for s in samples], dtype=np.float64)
            for condition in CONDITIONS
        }
        for order in orders:
            for key, value in _resampled_figures(matches, in_condition, order).items():
                if value is not None:
                    draws.setdefault(key, []).append(value)
    return DesignAccuracy(
        design,
        len(samples),
        point["all"],
        {c: point[c] for c in CONDITIONS},
        {g: point[g] for g in GROUPS},
        {key: _interval(values) for key, values in draws.items() if len(values) >= 2},
    )


@dataclass(frozen=True)
class Difference:
    """Overall mAP@0.5 of design ``a`` minus design ``b``, with its paired bootstrap 95% interval."""

    a: str
    b: str
    delta: float
    interval: Interval

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero."""
        return self.interval[0] > 0 or self.interval[1] < 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {**asdict(self), "significant": self.significant}


def compare_designs(
    samples: Sequence[Sample],
    detections: Mapping[str, Sequence[DetectionArray]],
    orders: Sequence[Sequence[int]],
) -> list[Difference]:
    """Every pair of designs' overall mAP difference on the same bootstrap resamples."""
    point = {name: _map50(*_to_coco(samples, rows)) for name, rows in detections.items()}
    draws: dict[str, list[float]] = {name: [] for name in detections}
    for name, rows in detections.items():
        matches = FrameMatches(samples, rows)
        for order in orders:
            draws[name].append(matches.map50(frame_counts(order, len(samples))) or 0.0)
    names = list(detections)
    differences = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            deltas = [x - y for x, y in zip(draws[a], draws[b], strict=True)]
            delta = (point[a] or 0.0) - (point[b] or 0.0)
            differences.append(
                Difference(a, b, round(delta, 4), _interval(deltas) if deltas else (delta, delta))
            )
    return differences


def predict_samples(
    predictor: DesignPredictor, samples: Sequence[Sample], *, batch_size: int = 32
) -> list[DetectionArray]:
    """Run ``predictor`` over ``samples`` in batches of one condition; returns ``[K, 6]`` per frame."""
    detections: list[DetectionArray] = [np.zeros((0, 6), dtype=np.float32)] * len(samples)
    by_condition: dict[str | None, list[int]] = {}
    for index, sample in enumerate(samples):
        by_condition.setdefault(sample.condition, []).append(index)
    for condition, indices in by_condition.items():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            images = torch.from_numpy(np.stack([samples[i].image for i in chunk]))
            for i, rows in zip(chunk, predictor(images, condition).numpy(), strict=True):
                detections[i] = rows
    return detections


def design_detections(
    config: ModelConfig, design: str, samples: Sequence[Sample], weights_dir: Path, *, batch_size: int = 32
) -> list[DetectionArray]:
    """Load a design's weights from ``weights_dir`` and predict ``samples`` (already at the input size).

    Raises:
        ModelError: if a weights file is missing or does not fit ``config``.
    """
    predictor = DesignPredictor.load(config, design, weights_dir)
    return predict_samples(predictor, samples, batch_size=batch_size)


def evaluate_design(
    config: ModelConfig,
    design: str,
    samples: Sequence[Sample],
    weights_dir: Path,
    *,
    batch_size: int = 32,
    orders: Sequence[Sequence[int]] = (),
) -> DesignAccuracy:
    """Load a design's weights from ``weights_dir`` and measure its mAP@0.5 on ``samples``.

    Frames are resized to ``config.input_size`` first (mAP is unchanged by the scaling).

    Raises:
        ModelError: if a weights file is missing or does not fit ``config``.
    """
    resized = [resize_sample(s, config.input_size) for s in samples]
    detections = design_detections(config, design, resized, weights_dir, batch_size=batch_size)
    result = accuracy_of(design, resized, detections, orders=orders)
    logger.info("%s: mAP@0.5 %s on %d frames", design, result.map50, len(samples))
    return result
