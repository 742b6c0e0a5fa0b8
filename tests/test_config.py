"""The pipeline config tree: the shipped example loads; errors name the key and the line; secrets stay out."""

from __future__ import annotations

from pathlib import Path

import pytest

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
