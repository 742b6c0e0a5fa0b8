"""FrameMatches gives faster-coco-eval's mAP@0.5: on the full set, per condition and group, on resamples."""

import numpy as np
import pytest

from pipeline.models.classes import CLASS_NAMES, CONDITIONS, GROUPS, class_ids
from pipeline.train.evaluate import _map50, _to_coco, bootstrap_orders
from pipeline.train.matches import FrameMatches, frame_counts
from pipeline.train.samples import Sample


def _scene(rng: np.random.Generator, frames: int) -> tuple[list[Sample], list[np.ndarray]]:
    """Frames with boxes of a few classes, and detections that hit, miss by a little, duplicate or invent."""
    samples, detections = [], []
    for index in range(frames):
        count = int(rng.integers(0, 6))
        x1y1 = rng.uniform(0, 90, size=(count, 2))
        boxes = np.concatenate([x1y1, x1y1 + rng.uniform(6, 30, size=(count, 2))], axis=1).astype(np.float32)
        classes = rng.choice([0, 1, 5, 7, 12], size=count).astype(np.int64)
        samples.append(
            Sample(np.zeros((128, 128, 3), np.uint8), boxes, classes, CONDITIONS[index % len(CONDITIONS)])
        )
        rows = []
        for box, class_id in zip(boxes, classes, strict=True):
            for _ in range(int(rng.integers(0, 3))):  # none, one, or a duplicate of the same object
                x1, y1, x2, y2 = box + rng.normal(0, 2, size=4)
                label = class_id if rng.random() > 0.15 else rng.choice([0, 1, 5, 7, 12])
                rows.append([x1, y1, max(x2, x1 + 1), max(y2, y1 + 1), rng.uniform(0.05, 1.0), label])
        for _ in range(int(rng.integers(0, 3))):  # false alarms
            x, y = rng.uniform(0, 100, size=2)
            rows.append([x, y, x + 12, y + 15, rng.uniform(0.05, 1.0), rng.choice([0, 1, 5, 7, 12])])
        rows.append([0, 0, 5, 5, 0.0, 3])  # an empty row (score 0): never a detection
        detections.append(np.asarray(rows, dtype=np.float32).reshape(-1, 6))
    return samples, detections


@pytest.fixture(scope="module")
def scene():
    return _scene(np.random.default_rng(11), 60)


def _coco(samples, detections, order=None, **subset):
    gt, dt = _to_coco(samples, detections, order)
    return _map50(gt, dt, **subset)


def test_full_set_equals_faster_coco_eval(scene) -> None:
    samples, detections = scene
    matches = FrameMatches(samples, detections)
    assert matches.map50() == pytest.approx(_coco(samples, detections), abs=1e-9)
    for group in GROUPS:
        categories = [i + 1 for i in class_ids(group)]
        expected = _coco(samples, detections, cat_ids=categories)
        got = matches.map50(class_ids=class_ids(group))
        assert (got is None and expected is None) or got == pytest.approx(expected, abs=1e-9)
    for condition in CONDITIONS:
        ids = [i for i, s in enumerate(samples, start=1) if s.condition == condition]
        mask = np.array([s.condition == condition for s in samples], dtype=float)
        assert matches.map50(mask) == pytest.approx(_coco(samples, detections, image_ids=ids), abs=1e-9)


def test_resamples_equal_faster_coco_eval_on_the_resampled_set(scene) -> None:
    samples, detections = scene
    matches = FrameMatches(samples, detections)
    for order in bootstrap_orders(samples, 6, seed=2):
        expected = _coco(samples, detections, order)
        assert matches.map50(frame_counts(order, len(samples))) == pytest.approx(expected, abs=1e-9)


def test_class_without_boxes_is_left_out_and_without_detections_scores_zero(scene) -> None:
    samples, detections = scene
    matches = FrameMatches(samples, detections)
    unused = next(i for i in range(len(CLASS_NAMES)) if i not in (0, 1, 5, 7, 12))
    assert matches.average_precision(unused, np.ones(len(samples))) is None
    empty = FrameMatches(samples, [np.zeros((0, 6), np.float32)] * len(samples))
    assert empty.map50() == 0.0
