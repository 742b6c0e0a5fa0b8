from pathlib import Path

import pydantic
import pytest

from pipeline.events.config import CameraEventsConfig, EventsConfig, RedisConfig, ZoneConfig

SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]


def test_zone_config_valid_polygon_parsed_from_lists() -> None:
    zone = ZoneConfig.model_validate({"name": "drive-way_1", "polygon": SQUARE})
    assert zone.polygon[0] == (0.1, 0.1)


@pytest.mark.parametrize(
    "polygon",
    [SQUARE[:2], [[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]], [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]],
    ids=["two-points", "outside-unit-square", "collinear"],
)
def test_zone_config_bad_polygon_rejected(polygon: list[list[float]]) -> None:
    with pytest.raises(pydantic.ValidationError):
        ZoneConfig.model_validate({"name": "z", "polygon": polygon})


def test_camera_events_config_rules_enforced() -> None:
    zone = {"name": "z", "polygon": SQUARE}
    with pytest.raises(pydantic.ValidationError, match="no zones"):
        CameraEventsConfig.model_validate({"only_in_zones": True})
    with pytest.raises(pydantic.ValidationError, match="duplicate"):
        CameraEventsConfig.model_validate({"zones": [zone, zone]})
    with pytest.raises(pydantic.ValidationError, match="extra"):
        CameraEventsConfig.model_validate({"zones": [], "only_in_zone": True})


def test_events_config_defaults_valid_and_threshold_order_checked() -> None:
    assert EventsConfig().lost_timeout_s > 0
    with pytest.raises(pydantic.ValidationError, match="track_threshold"):
        EventsConfig(score_threshold=0.5, track_threshold=0.3)


def test_redis_config_url_scheme_checked() -> None:
    assert RedisConfig().url is None
    assert RedisConfig(url="rediss://h:6380/1").url == "rediss://h:6380/1"
    with pytest.raises(pydantic.ValidationError):
        RedisConfig(url="http://h:6379")


def test_redis_password_from_env_or_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    assert RedisConfig.password_from_env({}) is None
    assert RedisConfig.password_from_env({"CAMFLEET_REDIS_PASSWORD": "a"}) == "a"
    assert RedisConfig.password_from_env({"CAMFLEET_REDIS_PASSWORD_FILE": str(secret)}) == "s3cret"
