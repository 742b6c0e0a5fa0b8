from __future__ import annotations

import pytest

from pipeline.errors import ConfigError
from pipeline.models.designs import DESIGNS
from pipeline.models.model_config import ModelConfig
from pipeline.planner.cost import DesignCost, design_cost, family_cost, parse_mix
from pipeline.planner.hardware import HardwareProfile


@pytest.mark.parametrize("family", ["monolith", "specialist_day", "trunk", "head_people"])
@pytest.mark.parametrize("split", [2, 3, 8])
def test_frame_cost_split_batch_never_cheaper(
    family: str, split: int, model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    cost = family_cost(family, model_config)
    for batch in (1.0, 8.0, 32.0):
        assert cost.frame_cost_s(hardware, batch / split) >= cost.frame_cost_s(hardware, batch)


@pytest.mark.parametrize("design", list(DESIGNS))
def test_design_cost_route_shares_sum_to_one(design: str, model_config: ModelConfig) -> None:
    cost = design_cost(design, model_config, mix={"day": 0.6, "dusk": 0.3, "night": 0.1})
    assert abs(sum(r.share for r in cost.routes) - 1.0) < 1e-9
    assert all(len(m.kinds) == len(m.features) for m in cost.models.values())


def _steps_latency(cost: DesignCost, hardware: HardwareProfile, batch: float) -> float:
    return sum(cost.models[step].latency_s(hardware, batch) for route in cost.routes for step in route.steps)


def test_design_cost_trunk_with_one_head_matches_monolith(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    # The shared backbone is the monolith's, so trunk + head_day hold exactly the monolith's layers.
    same = ModelConfig.model_validate(
        {
            **model_config.model_dump(),
            "shared": {"backbone": model_config.monolith.model_dump(), "branch_point": 2},
        }
    )
    monolith = design_cost("monolith", same)
    shared = design_cost("shared-condition", same, mix={"day": 1.0})
    assert [r.steps for r in shared.routes] == [("trunk", "head_day")]
    split = shared.models["trunk"].flops_per_frame + shared.models["head_day"].flops_per_frame
    assert split == pytest.approx(monolith.models["monolith"].flops_per_frame)
    # What the split adds to the layers is one more model call.
    for batch in (1.0, 8.0, 32.0):
        expected = _steps_latency(monolith, hardware, batch) + hardware.operators.call_s
        assert _steps_latency(shared, hardware, batch) == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("branch_point", [0, 4])
def test_design_cost_branch_point_extremes_sensible(
    branch_point: int, model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    config = ModelConfig.model_validate(
        {
            **model_config.model_dump(),
            "shared": {**model_config.shared.model_dump(), "branch_point": branch_point},
        }
    )
    routed = design_cost("shared-condition", config, mix={"day": 1.0})
    grouped = design_cost("shared-groups", config)
    trunk = routed.models["trunk"]
    if branch_point == 0:
        # Only normalise + stem are shared: the heads carry almost all the work.
        assert trunk.flops_per_frame < 0.1 * routed.models["head_day"].flops_per_frame
        assert _steps_latency(grouped, hardware, 8) > 2 * _steps_latency(routed, hardware, 8)
    else:
        # The whole backbone is shared: heads are only the detection head, and running all three is cheap.
        assert routed.models["head_day"].flops_per_frame < trunk.flops_per_frame
        assert _steps_latency(grouped, hardware, 8) < 2 * _steps_latency(routed, hardware, 8)


def test_design_cost_specialists_what_if_replicates(model_config: ModelConfig) -> None:
    five = design_cost("specialists-condition", model_config, specialists=5)
    assert len(five.routes) == 5 and all(r.share == pytest.approx(0.2) for r in five.routes)
    groups = design_cost("specialists-groups", model_config, specialists=5)
    assert len(groups.routes[0].steps) == 6  # five specialists and the merge


def test_parse_mix_unknown_condition_raises() -> None:
    with pytest.raises(ConfigError, match="unknown condition"):
        parse_mix({"noon": 1.0})
    assert parse_mix({"day": 2, "night": 2}) == {"day": 0.5, "dusk": 0.0, "night": 0.5}
