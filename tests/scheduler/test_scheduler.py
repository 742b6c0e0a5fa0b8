import logging

import pytest

from pipeline.errors import ConfigError, ModelError
from pipeline.models.designs import DESIGNS
from pipeline.scheduler import (
    Decision,
    Scheduler,
    StaticPolicyConfig,
    StreamState,
)

from .helpers import obs


class ScriptedPolicy:
    """Returns the conditions it is given, one per call (a hand-written fake)."""

    def __init__(self, conditions):
        self.conditions = list(conditions)

    def decide(self, stream: StreamState, observation) -> Decision:
        return Decision(self.conditions.pop(0), stream.design, reason="scripted")


@pytest.mark.parametrize("design", list(DESIGNS))
def test_scheduler_route_each_design_model_for_condition(design):
    sched = Scheduler.from_config(StaticPolicyConfig(condition="dusk"), design)
    assert sched.route(obs()).model == DESIGNS[design].model_for("dusk")


def test_scheduler_unknown_camera_added_on_default_design():
    sched = Scheduler(ScriptedPolicy(["day"]), "shared-condition")
    route = sched.route(obs("new-cam"))
    assert route.model == "shared_day"
    assert not route.changed
    assert sched.camera_ids == ["new-cam"]


def test_scheduler_added_stream_uses_its_design():
    sched = Scheduler(ScriptedPolicy(["night"]), "monolith")
    sched.add_stream("cam0", "specialists-condition")
    assert sched.route(obs("cam0")).model == "specialist_night"


def test_scheduler_switches_counted_per_camera_and_transition():
    sched = Scheduler(
        ScriptedPolicy(["day", "day", "dusk", "night", "night", "day"]), "specialists-condition"
    )
    changed = [sched.route(obs(t=i)).changed for i in range(3)]
    changed += [sched.route(obs("cam1", t=i)).changed for i in range(3)]
    assert changed == [False, False, True, False, False, True]
    assert sched.stats.by_camera == {"cam0": 1, "cam1": 1}
    assert sched.stats.by_transition == {
        ("specialists-condition/day", "specialists-condition/dusk"): 1,
        ("specialists-condition/night", "specialists-condition/day"): 1,
    }
    assert sched.stats.as_dict()["total"] == 2


def test_scheduler_switch_logged_once(caplog):
    sched = Scheduler(ScriptedPolicy(["day"] + ["night"] * 5), "specialists-condition")
    with caplog.at_level(logging.INFO, logger="pipeline.scheduler.scheduler"):
        for i in range(6):
            sched.route(obs(t=i))
    switches = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(switches) == 1
    message = switches[0].getMessage()
    assert "cam0" in message and "day -> " in message and "night" in message and "scripted" in message


def test_scheduler_same_model_condition_change_still_counted():
    sched = Scheduler(ScriptedPolicy(["day", "night"]), "monolith")
    routes = [sched.route(obs(t=i)) for i in range(2)]
    assert [r.model for r in routes] == ["monolith", "monolith"]
    assert routes[1].changed


def test_scheduler_unknown_default_design_raises():
    with pytest.raises(ModelError, match="unknown design"):
        Scheduler(ScriptedPolicy([]), "tiny")


def test_scheduler_duplicate_stream_raises():
    sched = Scheduler(ScriptedPolicy([]), "monolith")
    sched.add_stream("cam0")
    with pytest.raises(ConfigError, match="already scheduled"):
        sched.add_stream("cam0")


def test_scheduler_unknown_condition_raises_model_error():
    sched = Scheduler(ScriptedPolicy(["noon"]), "monolith")
    with pytest.raises(ModelError, match="unknown condition"):
        sched.route(obs())


def test_scheduler_removed_stream_state_forgotten_counts_kept():
    sched = Scheduler(ScriptedPolicy(["day", "night", "day"]), "monolith")
    sched.route(obs(t=0))
    sched.route(obs(t=1))
    sched.remove_stream("cam0")
    assert sched.stream("cam0") is None
    assert not sched.route(obs(t=2)).changed
    assert sched.stats.by_camera == {"cam0": 1}
