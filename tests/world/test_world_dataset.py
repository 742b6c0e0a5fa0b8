import json

import numpy as np
import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.models.classes import CLASS_NAMES
from pipeline.world.dataset import load_yolo_dataset, write_dataset
from pipeline.world.render import Renderer
from pipeline.world.scene import make_scene


def test_dataset_yolo_round_trips_through_reader(tmp_path):
    data_yaml = write_dataset(tmp_path / "ds", images=10, size=64, seed=1, val_fraction=0.2)
    data = yaml.safe_load(data_yaml.read_text())
    assert data["nc"] == 20 and data["names"] == list(CLASS_NAMES)
    tags = json.loads((tmp_path / "ds" / "conditions.json").read_text())
    assert set(tags.values()) == {"day", "dusk", "night"}
    train, val = list(load_yolo_dataset(data_yaml, "train")), list(load_yolo_dataset(tmp_path / "ds", "val"))
    assert len(train) == 8 and len(val) == 2
    sample = train[0]
    index = int(sample.stem.split("_")[1])
    frame = Renderer(make_scene(1 * 1_000_003 + index), 64, 64).render(0.0, tags[sample.stem], index)
    assert np.array_equal(sample.image, frame.image)
    assert sample.condition == tags[sample.stem]
    expected = np.array([b.xyxy() for b in frame.boxes], dtype=np.float32).reshape(-1, 4)
    np.testing.assert_allclose(sample.boxes, expected, atol=1e-3)
    assert sample.class_ids.tolist() == [b.class_id for b in frame.boxes]


def test_dataset_missing_condition_tag_unknown(tmp_path):
    write_dataset(tmp_path / "ds", images=3, size=32, val_fraction=0.0)
    (tmp_path / "ds" / "conditions.json").unlink()
    samples = list(load_yolo_dataset(tmp_path / "ds"))
    assert {s.condition for s in samples} == {"unknown"}


def test_dataset_bad_label_line_config_error(tmp_path):
    write_dataset(tmp_path / "ds", images=1, size=32, val_fraction=0.0)
    next((tmp_path / "ds" / "labels" / "train").iterdir()).write_text("3 0.5 oops\n")
    with pytest.raises(ConfigError, match="expected 'class cx cy w h'"):
        list(load_yolo_dataset(tmp_path / "ds"))


def test_dataset_missing_yaml_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no data set"):
        list(load_yolo_dataset(tmp_path / "none"))
