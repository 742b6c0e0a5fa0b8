from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.planner.hardware import DEFAULT_PROFILE_PATH, DecodePoint, HardwareProfile, load_hardware


def test_hardware_save_load_round_trip_equal(tmp_path: Path) -> None:
    profile = HardwareProfile(decode=[DecodePoint(width=640, height=360, fps_per_core=2000)], cores=4)
    loaded = load_hardware(profile.save(tmp_path / "hw.json"))
    assert loaded == profile


def test_load_hardware_default_is_calibrated_cpu() -> None:
    profile = load_hardware("auto")
    assert DEFAULT_PROFILE_PATH.is_file()
    assert profile.device_kind == "cpu" and profile.decode and profile.operators.conv.per_flop_s > 0


def test_load_hardware_other_schema_version_raises(tmp_path: Path) -> None:
    path = tmp_path / "hw.json"
    path.write_text(json.dumps({**HardwareProfile().model_dump(), "schema_version": 99}))
    with pytest.raises(ConfigError, match="schema version 99"):
        load_hardware(path)


def test_load_hardware_unknown_key_raises(tmp_path: Path) -> None:
    path = tmp_path / "hw.json"
    path.write_text(json.dumps({**HardwareProfile().model_dump(), "warp_drive": 1}))
    with pytest.raises(ConfigError, match="warp_drive"):
        load_hardware(path)


def test_decode_s_interpolates_between_resolutions() -> None:
    profile = HardwareProfile(
        decode=[
            DecodePoint(width=640, height=360, fps_per_core=2000),
            DecodePoint(width=1280, height=720, fps_per_core=500),
        ]
    )
    assert profile.decode_s(640, 360) == pytest.approx(profile.decode_in_worker / 2000)
    assert 1 / 2000 < profile.decode_s(960, 540) < 1 / 500
    assert profile.decode_s(1920, 1080) > 1 / 500
    assert profile.model_copy(update={"decode_in_worker": 2.0}).decode_s(640, 360) == pytest.approx(2 / 2000)
