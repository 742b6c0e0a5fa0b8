import pytest

from pipeline.errors import ConfigError
from pipeline.scheduler import (
    BrightnessPolicy,
    BrightnessPolicyConfig,
    Decision,
    LoadAwarePolicy,
    LoadAwarePolicyConfig,
    StaticPolicy,
    StaticPolicyConfig,
    TimeOfDayPolicy,
    TimeOfDayPolicyConfig,
    build_policy,
    get_policy,
    list_policies,
    register_policy,
    registry,
)


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(registry, "_POLICIES", dict(registry._POLICIES))


def test_registry_builtins_registered():
    assert list_policies()[:4] == ["static", "time_of_day", "brightness", "load_aware"]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (StaticPolicyConfig(), StaticPolicy),
        (TimeOfDayPolicyConfig(), TimeOfDayPolicy),
        (BrightnessPolicyConfig(), BrightnessPolicy),
        (LoadAwarePolicyConfig(base=BrightnessPolicyConfig()), LoadAwarePolicy),
    ],
)
def test_build_policy_config_type_builds_class(config, expected):
    assert isinstance(build_policy(config), expected)


def test_build_policy_load_aware_builds_base():
    policy = build_policy(LoadAwarePolicyConfig(base=TimeOfDayPolicyConfig()))
    assert isinstance(policy, LoadAwarePolicy)
    assert isinstance(policy.base, TimeOfDayPolicy)


def test_register_policy_duplicate_raises(scratch_registry):
    with pytest.raises(ConfigError, match="'static' is already registered"):

        @register_policy("static")
        class Another:
            def decide(self, stream, observation):
                raise AssertionError

    assert get_policy("static") is StaticPolicy


def test_get_policy_unknown_raises_with_known(scratch_registry):
    with pytest.raises(ConfigError, match="unknown scheduler policy 'fastest'; known: .*brightness"):
        get_policy("fastest")


def test_build_policy_no_type_raises():
    with pytest.raises(ConfigError, match="needs a 'type' field"):
        build_policy(object())


def test_register_policy_new_name_buildable(scratch_registry):
    class NightOnlyConfig:
        type = "night_only"

    @register_policy("night_only")
    class NightOnly:
        def __init__(self, config):
            self.config = config

        def decide(self, stream, observation):
            return Decision("night", stream.design)

    assert isinstance(build_policy(NightOnlyConfig()), NightOnly)
    assert "night_only" in list_policies()
