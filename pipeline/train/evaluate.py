"""Accuracy of a design: mAP@0.5 computed by faster-coco-eval, overall, per condition and per class group.

Ground truth and detections are converted to COCO dictionaries in memory; every figure comes from
``COCOeval_faster`` restricted to a subset of images (a condition) or categories (a class group).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from faster_coco_eval import COCO, COCOeval_faster

from pipeline.models.classes import CLASS_NAMES, CONDITIONS, GROUPS, class_ids
from pipeline.models.model_config import ModelConfig
from pipeline.train.predict import DesignPredictor
from pipeline.train.samples import Sample, resize_sample

DetectionArray = npt.NDArray[np.float32]
"""Detections of one frame, ``[K, 6]`` rows (x1, y1, x2, y2, score, class id)."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DesignAccuracy:
    """mAP@0.5 of one design; ``None`` where the subset has no ground-truth box."""

    design: str
    images: int
    map50: float | None
    per_condition: dict[str, float | None] = field(default_factory=dict)
    per_group: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def _quiet(*_args: object, **_kwargs: object) -> None:
    """Swallow faster-coco-eval's progress prints."""


def _to_coco(samples: Sequence[Sample], detections: Sequence[DetectionArray]) -> tuple[COCO, COCO]:
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for image_id, (sample, rows) in enumerate(zip(samples, detections, strict=True), start=1):
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


def accuracy_of(
    design: str, samples: Sequence[Sample], detections: Sequence[DetectionArray]
) -> DesignAccuracy:
    """mAP@0.5 of ``detections`` (per frame, ``[K, 6]`` rows in the frame's pixels) against ``samples``."""
    gt, dt = _to_coco(samples, detections)
    per_condition = {
        c: _map50(gt, dt, image_ids=[i for i, s in enumerate(samples, start=1) if s.condition == c])
        for c in CONDITIONS
    }
    per_group = {g: _map50(gt, dt, cat_ids=[i + 1 for i in class_ids(g)]) for g in GROUPS}
    return DesignAccuracy(design, len(samples), _map50(gt, dt), per_condition, per_group)


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


def evaluate_design(
    config: ModelConfig, design: str, samples: Sequence[Sample], weights_dir: Path, *, batch_size: int = 32
) -> DesignAccuracy:
    """Load a design's weights from ``weights_dir`` and measure its mAP@0.5 on ``samples``.

    Frames are resized to ``config.input_size`` first (mAP is unchanged by the scaling).

    Raises:
        ModelError: if a weights file is missing or does not fit ``config``.
    """
    predictor = DesignPredictor.load(config, design, weights_dir)
    resized = [resize_sample(s, config.input_size) for s in samples]
    result = accuracy_of(design, resized, predict_samples(predictor, resized, batch_size=batch_size))
    logger.info("%s: mAP@0.5 %s on %d frames", design, result.map50, len(samples))
    return result
