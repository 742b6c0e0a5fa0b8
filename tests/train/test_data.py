import numpy as np

from pipeline.train.data import load_split, synthetic_dataset


def test_synthetic_dataset_from_camera_size_stretches_frames_and_boxes(tmp_path) -> None:
    root = synthetic_dataset(tmp_path, images=10, size=48, seed=0, source=(128, 72))
    assert root.name == "synthetic-n10-s48-from128x72-seed0"
    train, val = load_split(root, "train", size=48), load_split(root, "val", size=48)
    assert len(train) == 8 and len(val) == 2
    assert all(s.image.shape == (48, 48, 3) for s in train + val)
    assert {s.condition for s in train} == {"day", "dusk", "night"}
    boxes = [b for s in train + val for b in s.boxes]
    assert boxes and all(-1e-3 <= b[0] < b[2] <= 48.001 and -1e-3 <= b[1] < b[3] <= 48.001 for b in boxes)
    # the same scenes rendered square have flatter boxes: stretching 16:9 to 1:1 makes objects taller
    square = load_split(synthetic_dataset(tmp_path, images=10, size=48, seed=0), "train", size=48)

    def aspect(samples):
        return float(np.median([(b[3] - b[1]) / (b[2] - b[0]) for s in samples for b in s.boxes]))

    assert aspect(train) > 1.4 * aspect(square)
