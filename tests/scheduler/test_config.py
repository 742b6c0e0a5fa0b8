import typing

import pytest
from pydantic import TypeAdapter, ValidationError

from pipeline.errors import ConfigError
from pipeline.models.classes import CONDITIONS
from pipeline.scheduler import (
    BrightnessPolicyConfig,
    LoadAwarePolicyConfig,
    MotionGateConfig,
    PolicyConfig,
    SchedulerConfig,
    StaticPolicyConfig,
    TimeOfDayPolicyConfig,
    parse_policy_config,
)
from pipeline.scheduler.config import Condition


def test_condition_literal_matches_conditions_equal():
    assert typing.get_args(Condition) == CONDITIONS


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "static"}, StaticPolicyConfig),
        ({"type": "time_of_day"}, TimeOfDayPolicyConfig),
        ({"type": "brightness"}, BrightnessPolicyConfig),
        ({"type": "load_aware"}, LoadAwarePolicyConfig),
    ],
)
def test_policy_config_type_field_selects_model(data, expected):
    assert isinstance(parse_policy_config(data), expected)


def test_policy_config_defaults_valid():
    config = parse_policy_config({"type": "load_aware", "base": {"type": "brightness", "min_frames": 3}})
    assert isinstance(config, LoadAwarePolicyConfig)
    assert isinstance(config.base, BrightnessPolicyConfig)
    assert config.base.min_frames == 3
    assert config.fallback_fps_factor == 0.5


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"type": "brightness", "min_frames": 0}, "policy.brightness.min_frames"),
        ({"type": "static", "conditon": "day"}, "policy.static.conditon"),
        ({"type": "static", "condition": "noon"}, "policy.static.condition"),
        ({"type": "load_aware", "fallback_design": "tiny"}, "policy.load_aware.fallback_design"),
        (
            {"type": "load_aware", "base": {"type": "brightness", "day_above": 300}},
            "policy.load_aware.base.brightness.day_above",
        ),
        ({"type": "load_aware", "queue_budget_ms": 0}, "policy.load_aware.queue_budget_ms"),
    ],
)
def test_policy_config_bad_value_error_names_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_policy_config(data)


def test_policy_config_unknown_type_error_lists_tags():
    with pytest.raises(ConfigError, match="policy: .*'fastest'.*static"):
        parse_policy_config({"type": "fastest"})


def test_policy_config_missing_type_error_names_discriminator():
    with pytest.raises(ConfigError, match="'type'"):
        parse_policy_config({"condition": "day"})


def test_time_of_day_config_unordered_thresholds_rejected():
    with pytest.raises(ValidationError, match="night_below_deg must be below day_above_deg"):
        TimeOfDayPolicyConfig(day_above_deg=-10.0, night_below_deg=-6.0)


def test_brightness_config_overlapping_bands_rejected():
    with pytest.raises(ValidationError, match="hysteresis_margin"):
        BrightnessPolicyConfig(night_below=90.0, day_above=100.0, hysteresis_margin=8.0)


def test_load_aware_config_no_fallback_rejected():
    with pytest.raises(ValidationError, match="fallback_design or a fallback_fps_factor"):
        LoadAwarePolicyConfig(fallback_fps_factor=1.0)


def test_load_aware_config_nested_load_aware_rejected():
    with pytest.raises(ConfigError, match="policy.load_aware.base"):
        parse_policy_config({"type": "load_aware", "base": {"type": "load_aware"}})


def test_motion_gate_config_bad_threshold_names_key():
    with pytest.raises(ValidationError) as info:
        MotionGateConfig.model_validate({"threshold": -1})
    assert info.value.errors()[0]["loc"] == ("threshold",)


def test_scheduler_config_from_mapping_nested_valid():
    config = SchedulerConfig.model_validate(
        {"policy": {"type": "time_of_day", "refresh_s": 10}, "motion": {"enabled": True}}
    )
    assert isinstance(config.policy, TimeOfDayPolicyConfig)
    assert config.motion.enabled


def test_policy_config_adapter_usable_in_other_models_valid():
    adapter: TypeAdapter[PolicyConfig] = TypeAdapter(PolicyConfig)
    assert adapter.validate_python({"type": "static", "condition": "night"}).condition == "night"
