import datetime as dt

import pytest
from astral.sun import elevation, sunset

from pipeline.scheduler import (
    Observation,
    StaticPolicy,
    StaticPolicyConfig,
    StreamState,
    TimeOfDayPolicy,
    TimeOfDayPolicyConfig,
)

from .helpers import LONDON

UTC = dt.timezone.utc


def stream() -> StreamState:
    return StreamState("cam0", "specialists-condition")


def at(when: dt.datetime, t: float = 0.0, **fields) -> Observation:
    return Observation("cam0", when, location=LONDON, monotonic_s=t, **fields)


def test_static_policy_any_frame_configured_condition():
    policy = StaticPolicy(StaticPolicyConfig(condition="dusk"))
    decision = policy.decide(stream(), at(dt.datetime(2024, 6, 21, 12, tzinfo=UTC)))
    assert (decision.condition, decision.design, decision.fps_factor) == (
        "dusk",
        "specialists-condition",
        1.0,
    )


def test_static_policy_fixed_condition_wins():
    policy = StaticPolicy(StaticPolicyConfig(condition="day"))
    decision = policy.decide(stream(), at(dt.datetime(2024, 6, 21, 12, tzinfo=UTC), fixed_condition="night"))
    assert decision.condition == "night"
    assert "fixed" in decision.reason


@pytest.mark.parametrize(
    ("hour", "expected"),
    [(12, "day"), (2, "night")],
)
def test_time_of_day_london_june_expected(hour, expected):
    when = dt.datetime(2024, 6, 21, hour, tzinfo=UTC)
    decision = TimeOfDayPolicy(TimeOfDayPolicyConfig()).decide(stream(), at(when))
    assert decision.condition == expected


def test_time_of_day_london_at_sunset_dusk():
    when = sunset(LONDON.observer, dt.date(2024, 6, 21))
    assert -6.0 < elevation(LONDON.observer, when) < 6.0
    assert TimeOfDayPolicy(TimeOfDayPolicyConfig()).decide(stream(), at(when)).condition == "dusk"


def test_time_of_day_local_timezone_frame_time_same_answer():
    noon_utc = dt.datetime(2024, 6, 21, 12, tzinfo=UTC)
    local = noon_utc.astimezone(dt.timezone(dt.timedelta(hours=1)))
    policy = TimeOfDayPolicy(TimeOfDayPolicyConfig(refresh_s=0.0))
    assert policy.decide(stream(), at(local)).condition == "day"


def test_time_of_day_thresholds_from_config_respected():
    # At sunset the sun is just below the horizon; a stricter night threshold reads that as night.
    when = sunset(LONDON.observer, dt.date(2024, 6, 21))
    policy = TimeOfDayPolicy(TimeOfDayPolicyConfig(day_above_deg=10.0, night_below_deg=0.0))
    assert policy.decide(stream(), at(when)).condition == "night"


def test_time_of_day_no_location_fallback():
    policy = TimeOfDayPolicy(TimeOfDayPolicyConfig(fallback_condition="dusk"))
    observation = Observation("cam0", dt.datetime(2024, 6, 21, 12, tzinfo=UTC))
    decision = policy.decide(stream(), observation)
    assert decision.condition == "dusk"
    assert "no location" in decision.reason


def test_time_of_day_within_refresh_cached_then_recomputed():
    policy = TimeOfDayPolicy(TimeOfDayPolicyConfig(refresh_s=60.0))
    state = stream()
    assert policy.decide(state, at(dt.datetime(2024, 6, 21, 12, tzinfo=UTC), t=0.0)).condition == "day"
    night = dt.datetime(2024, 6, 22, 2, tzinfo=UTC)
    assert policy.decide(state, at(night, t=30.0)).condition == "day"
    assert policy.decide(state, at(night, t=61.0)).condition == "night"


def test_observation_naive_time_raises():
    with pytest.raises(ValueError, match="timezone-aware"):
        Observation("cam0", dt.datetime(2024, 6, 21, 12))


def test_camera_location_out_of_range_raises():
    from pipeline.scheduler import CameraLocation

    with pytest.raises(ValueError, match="latitude"):
        CameraLocation(latitude=91.0, longitude=0.0)
