import numpy as np
import pytest

from pipeline.events.decode import decode_detections


def test_decode_padding_and_low_scores_dropped_boxes_scaled_to_frame() -> None:
    raw = np.zeros((10, 6), dtype=np.float32)
    raw[0] = [16, 32, 48, 96, 0.9, 4]  # kept
    raw[1] = [0, 0, 10, 10, 0.05, 0]  # below threshold
    raw[2] = [0, 0, 10, 10, 0.5, 25]  # unknown class
    raw[3] = [np.nan, 0, 10, 10, 0.5, 0]  # not finite
    raw[4] = [150, 150, 170, 170, 0.7, 0]  # partly outside: clipped
    dets = decode_detections(raw, input_size=160, frame_size=(640, 480), score_threshold=0.1)
    assert len(dets) == 2
    np.testing.assert_allclose(dets.xyxy[0], [64, 96, 192, 288])
    np.testing.assert_allclose(dets.xyxy[1], [600, 450, 640, 480])
    assert dets.class_id is not None and dets.class_id.tolist() == [4, 0]
    assert dets.confidence is not None
    np.testing.assert_allclose(dets.confidence, [0.9, 0.7])
    assert dets.xyxy.dtype == np.float32


def test_decode_all_padding_returns_empty() -> None:
    dets = decode_detections(
        np.zeros((100, 6), np.float32), input_size=160, frame_size=(64, 64), score_threshold=0
    )
    assert len(dets) == 0


def test_decode_bad_shape_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"\[K, 6\]"):
        decode_detections(
            np.zeros((4, 5), np.float32), input_size=160, frame_size=(64, 64), score_threshold=0
        )
