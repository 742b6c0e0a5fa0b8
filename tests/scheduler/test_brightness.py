import numpy as np
import pytest

from pipeline.scheduler import BrightnessPolicyConfig, Scheduler, build_policy, frame_stats

from .helpers import obs, solid


def scheduler(**fields) -> Scheduler:
    config = BrightnessPolicyConfig(
        night_below=40, day_above=100, hysteresis_margin=8, min_frames=5, **fields
    )
    return Scheduler(build_policy(config), "specialists-condition")


def feed(sched: Scheduler, lumas, chroma=30.0) -> list[str]:
    return [
        sched.route(obs(t=i * 0.2, mean_luma=luma, chroma=chroma)).decision.condition
        for i, luma in enumerate(lumas)
    ]


def test_brightness_first_frame_adopted_immediately():
    assert feed(scheduler(), [20])[0] == "night"
    assert feed(scheduler(), [70])[0] == "dusk"
    assert feed(scheduler(), [150])[0] == "day"


def test_brightness_luma_hovering_at_threshold_no_flap():
    sched = scheduler()
    conditions = feed(sched, [70] + [98, 102, 99, 101, 104, 96] * 20)
    assert set(conditions) == {"dusk"}
    assert sched.stats.total == 0


def test_brightness_hovering_after_switch_no_flap():
    sched = scheduler()
    conditions = feed(sched, [70] + [120] * 5 + [95, 101, 93, 99] * 20)
    assert conditions[5] == "day"
    assert set(conditions[5:]) == {"day"}
    assert sched.stats.total == 1


def test_brightness_sustained_change_switches_after_min_frames():
    sched = scheduler()
    conditions = feed(sched, [150] + [20] * 6)
    assert conditions == ["day", "day", "day", "day", "day", "night", "night"]
    assert sched.stats.by_transition == {("specialists-condition/day", "specialists-condition/night"): 1}


def test_brightness_short_blip_no_switch():
    sched = scheduler()
    conditions = feed(sched, [150] + [20] * 4 + [150] + [20] * 4)
    assert set(conditions) == {"day"}


def test_brightness_grey_bright_frames_night():
    sched = scheduler()
    stats = frame_stats(solid((160, 160, 160)))
    assert stats.chroma == 0.0
    decision = sched.route(obs(mean_luma=stats.mean_luma, chroma=stats.chroma)).decision
    assert decision.condition == "night"
    assert "grey" in decision.reason


def test_brightness_colour_bright_frames_day():
    stats = frame_stats(solid((200, 140, 90)))
    assert stats.chroma == 110.0
    assert scheduler().route(obs(mean_luma=stats.mean_luma, chroma=stats.chroma)).decision.condition == "day"


def test_brightness_no_luma_fallback_then_keeps():
    sched = scheduler(fallback_condition="dusk")
    assert sched.route(obs(t=0)).decision.condition == "dusk"
    assert sched.route(obs(t=1, mean_luma=20.0, chroma=30.0)).decision.condition == "night"
    assert sched.route(obs(t=2)).decision.condition == "night"


def test_brightness_fixed_condition_wins():
    assert scheduler().route(obs(mean_luma=200.0, fixed_condition="night")).decision.condition == "night"


def test_frame_stats_uniform_colour_bt601_luma():
    stats = frame_stats(solid((255, 0, 0)))
    assert stats.mean_luma == pytest.approx(0.299 * 255)
    assert not stats.is_grey(4.0)
    assert frame_stats(solid((7, 7, 7))).is_grey(4.0)


def test_frame_stats_noisy_grey_within_tolerance():
    rng = np.random.default_rng(0)
    base = rng.integers(20, 60, size=(360, 640, 1), dtype=np.uint8)
    frame = np.repeat(base, 3, axis=2)
    frame[..., 0] += rng.integers(0, 3, size=(360, 640), dtype=np.uint8)
    stats = frame_stats(frame)
    assert 0.0 < stats.chroma <= 2.0
    assert stats.is_grey(4.0)


def test_frame_stats_wrong_dtype_raises():
    with pytest.raises(ValueError, match="uint8"):
        frame_stats(np.zeros((10, 10, 3), dtype=np.float32))
