import numpy as np
import pytest
import torch

from pipeline.models.classes import class_ids
from pipeline.models.head import BoxDecoder
from pipeline.train.targets import build_targets, gaussian_radius

STRIDE, GRID = 8, 20


def test_build_targets_one_box_peak_at_centre_cell() -> None:
    box = np.array([[40.0, 24.0, 88.0, 72.0]], dtype=np.float32)  # centre (64, 48) -> cell (8, 6)
    targets = build_targets([box], [np.array([3])], class_ids=range(20), grid=GRID, stride=STRIDE)
    heat = targets.heatmap[0, 3]
    assert heat.max() == 1.0
    assert divmod(int(heat.argmax()), GRID) == (6, 8)
    assert targets.heatmap[0, :3].sum() == 0
    assert torch.equal(targets.size[0, :, 6, 8], torch.tensor([6.0, 6.0]))
    assert torch.equal(targets.offset[0, :, 6, 8], torch.tensor([0.0, 0.0]))
    assert targets.mask.sum() == 1


def test_build_targets_perfect_targets_decode_to_boxes() -> None:
    boxes = np.array([[10.0, 12.0, 50.0, 47.0], [90.0, 100.0, 150.0, 130.0], [5.0, 120.0, 30.0, 158.0]])
    classes = np.array([0, 7, 19])
    targets = build_targets(
        [boxes.astype(np.float32)], [classes], class_ids=range(20), grid=GRID, stride=STRIDE
    )
    decoder = BoxDecoder(stride=STRIDE, max_detections=8, class_ids=tuple(range(20)))
    logits = torch.logit(targets.heatmap.clamp(1e-6, 1 - 1e-6))
    rows = decoder(logits, targets.size, targets.offset)[0]
    found = rows[rows[:, 4] > 0.99]
    order = torch.argsort(found[:, 5])
    assert torch.allclose(found[order, :4], torch.tensor(boxes, dtype=torch.float32), atol=1e-4)
    assert found[order, 5].tolist() == [0.0, 7.0, 19.0]


def test_build_targets_group_head_maps_global_to_local_and_ignores_others() -> None:
    vehicles = class_ids("vehicles")
    boxes = np.array([[0.0, 0.0, 40.0, 40.0], [80.0, 80.0, 120.0, 120.0]], dtype=np.float32)
    classes = np.array([vehicles[2], class_ids("people")[0]])
    targets = build_targets([boxes], [classes], class_ids=vehicles, grid=GRID, stride=STRIDE)
    assert targets.heatmap.shape == (1, len(vehicles), GRID, GRID)
    assert targets.heatmap[0, 2].max() == 1.0
    assert targets.mask.sum() == 1


def test_gaussian_radius_larger_box_has_larger_radius() -> None:
    assert gaussian_radius(10, 10) > gaussian_radius(2, 2) > 0


def test_build_targets_box_touching_border_stays_on_grid() -> None:
    box = np.array([[150.0, 150.0, 160.0, 160.0]], dtype=np.float32)
    targets = build_targets([box], [np.array([0])], class_ids=range(20), grid=GRID, stride=STRIDE)
    assert targets.mask[0, 0, GRID - 1, GRID - 1] == 1
    assert targets.offset[0, :, GRID - 1, GRID - 1].tolist() == pytest.approx([0.375, 0.375])


def test_build_targets_min_radius_spreads_small_box_peak() -> None:
    box = np.array([[64.0, 64.0, 72.0, 72.0]], dtype=np.float32)  # one cell: CornerNet radius 0
    plain = build_targets([box], [np.array([0])], class_ids=range(20), grid=GRID, stride=STRIDE)
    wide = build_targets([box], [np.array([0])], class_ids=range(20), grid=GRID, stride=STRIDE, min_radius=2)
    assert int((plain.heatmap > 0).sum()) == 1
    assert int((wide.heatmap > 0).sum()) == 25
    assert wide.heatmap.max() == 1.0 and int(wide.heatmap.eq(1).sum()) == 1
