"""The pipeline config tree: the shipped example loads; errors name the key and the line; secrets stay out."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import CameraConfig, load_config
from pipeline.errors import ConfigError
from pipeline.ingest.redact import redact_url

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cameras.yaml"


def test_example_config_loads_with_every_section():
    config = load_config(EXAMPLE)
    assert config.design == "specialists-condition"
    assert [c.id for c in config.cameras] == ["driveway", "porch"]
    assert config.cameras[0].events.only_in_zones
    assert config.scheduler.policy.type == "brightness"


def test_config_duplicate_camera_id_rejected(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("cameras:\n  - {id: a, url: x.mp4}\n  - {id: a, url: y.mp4}\n")
    with pytest.raises(ConfigError, match="appears twice"):
        load_config(path)


def test_config_nested_error_names_key_path_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("design: monolith\nscheduler:\n  policy:\n    type: brightness\n    day_above: 900\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "day_above" in str(info.value) and f"{path}:5" in str(info.value)


def test_config_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="pass an existing cameras.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_camera_credentials_from_env_filled_in_and_redacted(monkeypatch):
    monkeypatch.setenv("CAM_PW", "s3cret/pass")
    camera = CameraConfig.model_validate(
        {
            "id": "c",
            "url": "rtsp://10.0.0.2/live",
            "credentials": {"username": "me", "password_env": "CAM_PW"},
        }
    )
    resolved = camera.resolved_url({})
    assert resolved == "rtsp://me:s3cret%2Fpass@10.0.0.2/live"
    assert "s3cret" not in redact_url(resolved)
    assert "s3cret" not in camera.url


def test_camera_credentials_missing_variable_clear_error(monkeypatch):
    monkeypatch.delenv("NOPE_PW", raising=False)
    camera = CameraConfig.model_validate(
        {"id": "c", "url": "rtsp://h/x", "credentials": {"username": "me", "password_env": "NOPE_PW"}}
    )
    with pytest.raises(ConfigError, match="NOPE_PW is not set"):
        camera.resolved_url({})


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=15,
)
_SECTIONS = [
    "design",
    "cameras",
    "scheduler",
    "events",
    "redis",
    "triton",
    "batching",
    "ray",
    "control",
    "secrets",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.sampled_from(_SECTIONS) | st.text(max_size=10), _VALUES, max_size=5))
def test_load_config_any_yaml_mapping_loads_or_names_the_key(tmp_path, data):
    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_config(path)
    except ConfigError as exc:
        lines = str(exc).splitlines()[1:]
        assert lines and all(f"{path}:" in line and ": " in line.split(f"{path}:", 1)[1] for line in lines), (
            exc
        )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_load_config_any_text_loads_or_raises_config_error(tmp_path, text):
    path = tmp_path / "cameras.yaml"
    path.write_text(text)
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
