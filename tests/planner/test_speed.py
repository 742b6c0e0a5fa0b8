"""The machine-speed reference and a profile scaled to another speed (pipeline.planner.speed)."""

from __future__ import annotations

import pytest

from pipeline.models.designs import DESIGNS
from pipeline.models.model_config import ModelConfig
from pipeline.planner.cost import design_cost
from pipeline.planner.hardware import HardwareProfile
from pipeline.planner.plan import STAGES, PlanSettings, operating_point
from pipeline.planner.speed import SpeedReference, measure_speed


def test_the_reference_is_timed_in_a_fresh_interpreter() -> None:
    first, second = measure_speed(), measure_speed()
    for part in ("torch_s", "python_s", "memory_s"):
        assert 1e-3 < getattr(first, part) < 5.0
    # The same machine a moment later: the same speed, within what a shared VM allows.
    assert 0.7 < second.factor(first) < 1.4


def test_factor_is_the_geometric_mean_of_the_parts() -> None:
    base = SpeedReference(torch_s=0.1, python_s=0.2, memory_s=0.4)
    assert base.factor(base) == pytest.approx(1.0)
    slower = SpeedReference(torch_s=0.2, python_s=0.2, memory_s=0.4)
    assert slower.factor(base) == pytest.approx(2 ** (1 / 3))
    assert SpeedReference.mean([base, slower]).torch_s == pytest.approx(0.15)


def test_a_slower_machine_costs_more_cpu_per_frame_in_every_stage(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    slower = hardware.scaled(1.5)
    assert slower.usable_cores == hardware.usable_cores
    for design in DESIGNS:
        cost = design_cost(design, model_config)
        # Few cameras: the same batches on both machines, so every stage scales alike.
        base = operating_point(cost, hardware, model_config, 2, PlanSettings())
        slow = operating_point(cost, slower, model_config, 2, PlanSettings())
        for stage in STAGES:
            assert getattr(slow.stage_ms, stage) == pytest.approx(
                1.5 * getattr(base.stage_ms, stage), rel=0.02
            )
    with pytest.raises(Exception, match="positive"):
        hardware.scaled(0)
