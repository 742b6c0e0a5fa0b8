import pytest

from pipeline.scheduler import (
    LoadAwarePolicyConfig,
    Scheduler,
    StaticPolicyConfig,
    TimeOfDayPolicyConfig,
    build_policy,
)

from .helpers import LONDON, obs


def scheduler(**fields) -> Scheduler:
    defaults = dict(
        base=StaticPolicyConfig(condition="night"),
        queue_budget_ms=50.0,
        lag_budget_s=2.0,
        fallback_design="monolith",
        fallback_fps_factor=0.5,
        degrade_after_s=5.0,
        recover_ratio=0.7,
        recover_after_s=10.0,
    )
    defaults.update(fields)
    return Scheduler(build_policy(LoadAwarePolicyConfig(**defaults)), "specialists-condition")


def run(sched: Scheduler, start: float, seconds: float, **load):
    """Feed one frame a second from ``start`` for ``seconds``; return the routes."""
    return [sched.route(obs(t=start + i, **load)) for i in range(int(seconds))]


def test_load_aware_under_budget_configured_design():
    route = scheduler().route(obs(queue_ms=10.0, lag_s=0.1))
    assert route.model == "specialist_night"
    assert route.decision.fps_factor == 1.0


def test_load_aware_over_budget_sustained_switches_down():
    sched = scheduler()
    routes = run(sched, 0, 7, queue_ms=80.0)
    assert [r.model for r in routes[:5]] == ["specialist_night"] * 5
    assert routes[5].model == "monolith"
    assert routes[5].decision.fps_factor == 0.5
    assert routes[5].changed
    assert "over budget" in routes[5].decision.reason


def test_load_aware_lag_over_budget_switches_down():
    routes = run(scheduler(), 0, 7, queue_ms=1.0, lag_s=3.0)
    assert routes[-1].decision.design == "monolith"


def test_load_aware_short_spikes_no_switch():
    sched = scheduler()
    for cycle in range(5):
        run(sched, cycle * 8, 4, queue_ms=80.0)
        run(sched, cycle * 8 + 4, 4, queue_ms=10.0)
    assert sched.stats.total == 0


def test_load_aware_load_falls_switches_back_after_hold():
    sched = scheduler()
    run(sched, 0, 6, queue_ms=80.0)
    routes = run(sched, 6, 12, queue_ms=10.0)
    assert [r.model for r in routes[:10]] == ["monolith"] * 10
    assert routes[10].model == "specialist_night"
    assert routes[10].decision.fps_factor == 1.0
    assert sched.stats.by_transition == {
        ("specialists-condition/night", "monolith/night@0.5x"): 1,
        ("monolith/night@0.5x", "specialists-condition/night"): 1,
    }


def test_load_aware_hovering_near_budget_no_flap():
    sched = scheduler()
    run(sched, 0, 6, queue_ms=80.0)
    # Between the recovery level (35 ms) and the budget (50 ms): stays degraded, never flaps.
    routes = run(sched, 6, 100, queue_ms=45.0)
    routes += [sched.route(obs(t=106 + i, queue_ms=52.0 if i % 2 else 30.0)) for i in range(40)]
    assert {r.model for r in routes} == {"monolith"}
    assert sched.stats.total == 1


def test_load_aware_fps_only_keeps_design():
    sched = scheduler(fallback_design=None, fallback_fps_factor=0.25, degrade_after_s=0.0)
    route = sched.route(obs(queue_ms=500.0))
    assert route.model == "specialist_night"
    assert route.decision.fps_factor == pytest.approx(0.25)


def test_load_aware_missing_signals_never_degrade():
    sched = scheduler(degrade_after_s=0.0)
    assert {r.model for r in run(sched, 0, 10)} == {"specialist_night"}


def test_load_aware_degraded_follows_base_condition():
    sched = scheduler(base=TimeOfDayPolicyConfig(refresh_s=0.0), degrade_after_s=0.0)
    day = sched.route(obs(t=0, location=LONDON, queue_ms=100.0))
    assert (day.model, day.decision.condition) == ("monolith", "day")
    night = sched.route(obs(t=14 * 3600, location=LONDON, queue_ms=100.0))
    assert (night.model, night.decision.condition) == ("monolith", "night")


def test_load_aware_streams_degrade_independently():
    sched = scheduler()
    run(sched, 0, 7, queue_ms=1.0, lag_s=5.0)
    other = sched.route(obs("cam1", t=7, queue_ms=1.0, lag_s=0.1))
    assert sched.stream("cam0").decision.design == "monolith"
    assert other.decision.design == "specialists-condition"
