"""Parsing and the exact condition mix of the load tester (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.settings import (
    LoadTestSettings,
    parse_cameras,
    parse_mix,
    parse_resolution,
    quick_preset,
)
from pipeline.errors import ConfigError
from pipeline.planner.cost import assign_conditions


def test_assign_conditions_ten_cameras_matches_mix_exactly() -> None:
    conditions = assign_conditions(10, parse_mix("day=0.5,dusk=0.3,night=0.2"))
    assert (conditions.count("day"), conditions.count("dusk"), conditions.count("night")) == (5, 3, 2)


def test_assign_conditions_few_cameras_gives_one_each_to_largest_shares() -> None:
    mix = parse_mix("day=0.5,dusk=0.3,night=0.2")
    assert assign_conditions(1, mix) == ["day"]
    assert sorted(assign_conditions(2, mix)) == ["day", "dusk"]
    assert len(assign_conditions(7, mix)) == 7


def test_parse_mix_normalises_and_rejects_unknown() -> None:
    assert parse_mix("day=2,night=2") == {"day": 0.5, "dusk": 0.0, "night": 0.5}
    with pytest.raises(ConfigError):
        parse_mix("noon=1")


def test_parse_cameras_and_resolution() -> None:
    assert parse_cameras("4,1,2,2") == (1, 2, 4)
    assert parse_resolution("640x360") == (640, 360)
    with pytest.raises(ConfigError):
        parse_resolution("640")


def test_quick_preset_keeps_given_designs_and_shortens_points() -> None:
    settings = LoadTestSettings(out=Path("x"), designs=("monolith",))
    quick = quick_preset(settings, designs_given=True, cameras_given=False)
    assert quick.designs == ("monolith",) and quick.cameras == (1, 2, 4)
    assert quick.duration_s <= 3 and quick.quick
    assert LoadTestSettings(out=Path("x"), batching="server").record()["max_batch"] == 1
