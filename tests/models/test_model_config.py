"""The model-size YAML: defaults, overrides and clear errors."""

import pytest

from pipeline.errors import ConfigError
from pipeline.models.model_config import DEFAULT_MODEL_CONFIG_PATH, ModelConfig, load_model_config


def test_default_file_equals_documented_defaults():
    config = load_model_config()
    assert config.input_size == 160
    assert config.head.max_detections == 32
    assert config.monolith.output_stride == 8
    assert DEFAULT_MODEL_CONFIG_PATH.exists()


def test_override_file_changes_sizes(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("input_size: 96\nhead: {max_detections: 8}\nshared: {branch_point: 4}\n")
    config = load_model_config(path)
    assert (config.input_size, config.head.max_detections, config.shared.branch_point) == (96, 8, 4)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("input_size: 150\n", "input_size"),
        ("monolith: {widths: [8, 16], depths: [1]}\n", "monolith"),
        ("shared: {branch_point: 9}\n", "shared"),
        ("head: {max_detections: 0}\n", "head.max_detections"),
        ("colour: blue\n", "colour"),
    ],
)
def test_invalid_file_error_names_key(tmp_path, text, key):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key):
        load_model_config(path)


def test_missing_file_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_model_config(tmp_path / "nope.yaml")


def test_not_yaml_clear_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("input_size: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_model_config(path)


def test_with_input_size_validates():
    with pytest.raises(ValueError):
        ModelConfig().with_input_size(100)
    assert ModelConfig().with_input_size(320).input_size == 320
