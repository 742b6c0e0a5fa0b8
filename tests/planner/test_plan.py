from __future__ import annotations

import pytest

from pipeline.models.designs import DESIGNS
from pipeline.models.model_config import ModelConfig
from pipeline.planner.cost import design_cost
from pipeline.planner.hardware import HardwareProfile
from pipeline.planner.plan import PlanSettings, max_cameras, operating_point, plan


@pytest.mark.parametrize("design", list(DESIGNS))
def test_operating_point_more_cameras_never_raise_per_camera_fps(
    design: str, model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    cost = design_cost(design, model_config, mix={"day": 0.5, "dusk": 0.3, "night": 0.2})
    settings = PlanSettings(fps=10)
    previous = float("inf")
    for cameras in (1, 2, 4, 8, 16, 32, 64, 128):
        point = operating_point(cost, hardware, model_config, cameras, settings)
        assert point.per_camera_fps <= previous + 1e-9
        assert 1 <= min(point.batches.values()) <= max(point.batches.values()) <= settings.max_batch
        previous = point.per_camera_fps


def test_operating_point_batch_grows_with_load(model_config: ModelConfig, hardware: HardwareProfile) -> None:
    cost = design_cost("monolith", model_config)
    low = operating_point(cost, hardware, model_config, 1, PlanSettings(fps=5))
    high = operating_point(cost, hardware, model_config, 40, PlanSettings(fps=10))
    assert low.batches["monolith"] < high.batches["monolith"]


def test_max_cameras_every_utilisation_within_limit(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    cost = design_cost("specialists-condition", model_config)
    settings = PlanSettings(fps=10)
    fits, point = max_cameras(cost, hardware, model_config, settings)
    assert fits >= 1 and point is not None
    assert max(point.utilisation.values()) <= 1.0
    beyond = operating_point(cost, hardware, model_config, fits + 1, settings)
    assert max(beyond.utilisation.values()) > 1.0


def test_plan_decode_bound_at_high_resolution(model_config: ModelConfig, hardware: HardwareProfile) -> None:
    fast_gpu = {
        "peak_flops": hardware.peak_flops * 1e3,
        "bandwidth": hardware.bandwidth * 1e3,
        "kappa_s": 0.0,
    }
    slow_decode = hardware.model_copy(update={"device_kind": "cuda", "cores": 1, **fast_gpu})
    plans = plan(model_config, slow_decode, cameras=4, settings=PlanSettings(fps=30, resolution=(3840, 2160)))
    assert {p.bottleneck for p in plans} <= {"decode", "cpu"}


def test_plan_latency_target_lowers_max_cameras(model_config: ModelConfig, hardware: HardwareProfile) -> None:
    free = plan(model_config, hardware, cameras=4, settings=PlanSettings(), designs=["monolith"])[0]
    tight = plan(
        model_config, hardware, cameras=4, settings=PlanSettings(latency_target_ms=30), designs=["monolith"]
    )[0]
    assert tight.max_cameras <= free.max_cameras
    assert free.weight_mb > 0 and free.recommendation.startswith("monolith")
