import numpy as np
import pytest

from pipeline.scheduler import MotionGate, MotionGateConfig

from .helpers import solid


def gate(**fields) -> MotionGate:
    settings = {"enabled": True, "threshold": 2.0, "max_skip_s": 2.0, **fields}
    return MotionGate(MotionGateConfig(**settings))


def scene(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(360, 640, 3), dtype=np.uint8)


def test_motion_gate_first_frame_passes():
    assert gate().should_infer("cam0", scene(), 0.0)


def test_motion_gate_identical_frames_skipped():
    g = gate()
    frame = scene()
    results = [g.should_infer("cam0", frame.copy(), i * 0.1) for i in range(10)]
    assert results == [True] + [False] * 9
    counts = g.counts("cam0")
    assert (counts.passed, counts.skipped, counts.forced) == (1, 9, 0)


def test_motion_gate_changed_frame_passes():
    g = gate()
    frame = solid((50, 50, 50))
    g.should_infer("cam0", frame, 0.0)
    moved = frame.copy()
    moved[100:260, 200:440] = 220  # an object appears over ~17% of the view
    assert g.should_infer("cam0", moved, 0.1)


def test_motion_gate_small_distant_object_moving_passes():
    g = gate()
    frame = solid((60, 60, 60))
    g.should_infer("cam0", frame, 0.0)
    moved = frame.copy()
    moved[200:212, 300:318] = 200  # a 18x12 px object, 0.09% of a 640x360 view: the mean barely moves
    assert float(np.abs(moved.astype(int) - frame).mean()) < 2.0
    assert g.should_infer("cam0", moved, 0.1)


def test_motion_gate_small_noise_skipped():
    g = gate()
    frame = solid((80, 80, 80))
    g.should_infer("cam0", frame, 0.0)
    noisy = frame + np.random.default_rng(1).integers(0, 2, size=frame.shape, dtype=np.uint8)
    assert not g.should_infer("cam0", noisy, 0.1)


def test_motion_gate_after_max_skip_forced():
    g = gate()
    frame = scene()
    results = [g.should_infer("cam0", frame, t) for t in (0.0, 1.0, 1.9, 2.0, 2.5, 4.0)]
    assert results == [True, False, False, True, False, True]
    counts = g.counts("cam0")
    assert (counts.passed, counts.skipped, counts.forced) == (3, 3, 2)


def test_motion_gate_slow_drift_accumulates_then_passes():
    g = gate(max_skip_s=100.0)
    results = [g.should_infer("cam0", solid((v, v, v)), i * 0.1) for i, v in enumerate(range(50, 56))]
    # Each step is 1 grey level (below the threshold of 2) but against the last inferred frame it adds up.
    assert results == [True, False, True, False, True, False]


def test_motion_gate_cameras_independent():
    g = gate()
    frame = scene()
    assert g.should_infer("cam0", frame, 0.0)
    assert g.should_infer("cam1", frame, 0.0)
    assert not g.should_infer("cam0", frame, 0.1)
    totals = g.totals()
    assert (totals.passed, totals.skipped) == (2, 1)


def test_motion_gate_same_aspect_new_resolution_compared():
    g = gate()
    g.should_infer("cam0", solid((0, 0, 0)), 0.0)
    assert not g.should_infer("cam0", solid((0, 0, 0), h=720, w=1280), 0.1)


def test_motion_gate_new_aspect_passes():
    g = gate()
    g.should_infer("cam0", solid((0, 0, 0)), 0.0)
    assert g.should_infer("cam0", solid((0, 0, 0), h=480, w=640), 0.1)


def test_motion_gate_disabled_every_frame_passes():
    g = MotionGate(MotionGateConfig(enabled=False))
    frame = scene()
    assert all(g.should_infer("cam0", frame, i * 0.1) for i in range(5))
    assert g.counts("cam0").passed == 5


def test_motion_gate_forget_resets_camera():
    g = gate()
    frame = scene()
    g.should_infer("cam0", frame, 0.0)
    g.forget("cam0")
    assert g.counts("cam0").passed == 0
    assert g.should_infer("cam0", frame, 0.1)


def test_motion_gate_bad_frame_raises():
    with pytest.raises(ValueError, match="uint8"):
        gate().should_infer("cam0", np.zeros((10, 10)), 0.0)
