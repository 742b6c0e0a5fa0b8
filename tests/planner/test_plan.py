"""The system model: batches, stage costs, throughput, knee and what binds."""

from __future__ import annotations

import pytest

from pipeline.models.designs import DESIGNS
from pipeline.models.model_config import ModelConfig
from pipeline.planner.cost import design_cost
from pipeline.planner.hardware import HardwareProfile
from pipeline.planner.plan import STAGES, PlanSettings, max_cameras, operating_point, plan, saturated_fps

MIX = {"day": 0.5, "dusk": 0.3, "night": 0.2}


@pytest.mark.parametrize("design", list(DESIGNS))
def test_operating_point_never_exceeds_offered_and_per_camera_falls(
    design: str, model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    cost = design_cost(design, model_config, mix=MIX)
    settings = PlanSettings(fps=10)
    previous = float("inf")
    for cameras in (1, 2, 4, 8, 16, 32, 64):
        point = operating_point(cost, hardware, model_config, cameras, settings)
        assert point.achieved_fps <= point.offered_fps + 1e-9
        assert point.per_camera_fps <= previous + 1e-9
        assert 1 <= min(point.batches.values()) <= max(point.batches.values()) <= settings.max_batch
        assert set(point.stage_ms.as_dict()) == set(STAGES)
        previous = point.per_camera_fps


def test_throughput_falls_past_saturation_as_decode_takes_cores(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    cost = design_cost("monolith", model_config)
    settings = PlanSettings(fps=10)
    knee, _ = max_cameras(cost, hardware, model_config, settings)
    near = operating_point(cost, hardware, model_config, knee + 1, settings)
    far = operating_point(cost, hardware, model_config, 8 * (knee + 1), settings)
    assert near.binding != "none" and far.achieved_fps < near.achieved_fps
    assert far.stage_ms.decode > near.stage_ms.decode


def test_batches_grow_with_load_up_to_the_budget_target(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    cost = design_cost("specialists-condition", model_config, mix=MIX)
    knee, _ = max_cameras(cost, hardware, model_config, PlanSettings(fps=10))
    one = operating_point(cost, hardware, model_config, 1, PlanSettings(fps=10))
    many = operating_point(cost, hardware, model_config, knee, PlanSettings(fps=10))
    assert max(one.batches.values()) < max(many.batches.values())
    tight = operating_point(cost, hardware, model_config, 64, PlanSettings(latency_budget_s=0.12))
    loose = operating_point(cost, hardware, model_config, 64, PlanSettings(latency_budget_s=0.8))
    assert max(tight.batches.values()) <= max(loose.batches.values())


def test_max_cameras_is_the_last_count_meeting_the_target(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    cost = design_cost("shared-condition", model_config, mix=MIX)
    settings = PlanSettings(fps=10)
    fits, point = max_cameras(cost, hardware, model_config, settings)
    assert fits >= 1 and point is not None and point.meets_target
    beyond = operating_point(cost, hardware, model_config, fits + 1, settings)
    assert not beyond.meets_target
    # The model's knee is where it stops carrying the whole rate, not where it drops to 95% of it: the
    # pipeline loses about 5% near capacity by itself, which the load tester's 95% allows for.
    assert beyond.achieved_fps < beyond.offered_fps
    assert point.achieved_fps == pytest.approx(point.offered_fps)
    assert (
        saturated_fps(cost, hardware, model_config, settings, [fits, fits + 1, 2 * fits])
        >= point.achieved_fps
    )


def test_on_a_gpu_inference_leaves_the_cpu_and_the_device_binds(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    slow_device = hardware.model_copy(update={"device_kind": "cuda", "cores": 64, "usable_cores": 64.0})
    cost = design_cost("monolith", model_config)
    point = operating_point(cost, slow_device, model_config, 400, PlanSettings(fps=10))
    assert point.stage_ms.inference == 0.0
    assert point.binding == "device"


def test_more_cores_serve_more_cameras(model_config: ModelConfig, hardware: HardwareProfile) -> None:
    bigger = hardware.model_copy(
        update={"cores": 4 * hardware.cores, "usable_cores": 4 * hardware.usable_cores}
    )
    small = plan(model_config, hardware, cameras=4, settings=PlanSettings(), designs=["monolith"])[0]
    large = plan(model_config, bigger, cameras=4, settings=PlanSettings(), designs=["monolith"])[0]
    assert large.max_cameras > small.max_cameras


def test_plan_latency_target_lowers_max_cameras(model_config: ModelConfig, hardware: HardwareProfile) -> None:
    free = plan(model_config, hardware, cameras=4, settings=PlanSettings(), designs=["monolith"])[0]
    tight = plan(
        model_config, hardware, cameras=4, settings=PlanSettings(latency_target_ms=30), designs=["monolith"]
    )[0]
    assert tight.max_cameras <= free.max_cameras
    assert free.weight_mb > 0 and free.memory_mb >= free.weight_mb
    assert free.recommendation.startswith("monolith")


def test_requests_fill_toward_the_target_only_as_far_as_the_load_needs(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    # Two full workers of 8 cameras, the frame rate raised in small steps so the load crosses the knee
    # gradually; a loose budget makes the target (max_batch) far larger than one window's arrivals.
    cost = design_cost("monolith", model_config)
    batches, filling = [], []
    for tenths in range(20, 300, 2):
        settings = PlanSettings(fps=tenths / 10, cameras_per_worker=8, latency_budget_s=2.0)
        window = 1 + 8 * settings.fps * settings.window_s
        point = operating_point(cost, hardware, model_config, 16, settings)
        batch = point.batches["monolith"]
        if not batches:
            assert batch == pytest.approx(window, rel=0.01)  # keeping up: one window's arrivals
        batches.append(batch)
        if window + 0.01 < batch < settings.max_batch - 0.01:  # queued, filled part of the way
            filling.append(settings.fps)
            assert point.achieved_fps == pytest.approx(point.offered_fps, rel=1e-3)  # ...and it keeps up
    assert batches == sorted(batches)
    assert batches[-1] == pytest.approx(32, rel=0.01)  # far past the knee: the target
    assert filling  # in between, only as far as serves the offered rate


def test_condition_routes_take_each_workers_own_cameras_laid_out_condition_by_condition(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    # 16 cameras of the default mix: cameras 0-7 are day (the first worker), 8-12 dusk, 13-15 night.
    settings = PlanSettings(fps=10, cameras_per_worker=8, latency_budget_s=2.0, mix=MIX)
    cost = design_cost("specialists-condition", model_config, mix=MIX)
    assert [route.conditions for route in cost.routes] == [("day",), ("dusk",), ("night",)]
    point = operating_point(cost, hardware, model_config, 16, settings)
    window = settings.window_s * settings.fps
    # The day route gets the whole first worker's frames, not half of each worker's.
    assert point.batches["specialist_day"] == pytest.approx(1 + 8 * window, rel=0.01)
    assert point.batches["specialist_dusk"] == pytest.approx(1 + 5 * window, rel=0.01)
    assert point.batches["specialist_night"] == pytest.approx(1 + 3 * window, rel=0.01)
    split = design_cost("specialists-condition", model_config, specialists=3)  # no conditions: an even split
    even = operating_point(split, hardware, model_config, 16, PlanSettings(fps=10, latency_budget_s=2.0))
    assert even.batches["specialist_1"] == pytest.approx(1 + 8 / 3 * window, rel=0.01)


def test_group_members_run_side_by_side_in_the_ensemble(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    from dataclasses import replace

    from pipeline.planner.plan import _DesignModel, _Serving

    cost = design_cost("specialists-groups", model_config)
    model = _DesignModel(cost, hardware, model_config, PlanSettings())
    route = cost.routes[0]
    serving = _Serving(instances=2, threads=1)
    together = model.route_service_s(route, 4, serving)
    one_by_one = model.route_service_s(replace(route, parallel=()), 4, serving)
    assert len(route.parallel) == 3 and together < one_by_one


def test_triton_merges_queued_requests_into_larger_executions_under_load(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    from pipeline.serving.repository import MAX_BATCH_SIZE

    settings = PlanSettings(fps=10)
    shared = design_cost("shared-condition", model_config, mix=MIX)
    idle = operating_point(shared, hardware, model_config, 1, settings)
    # One camera's requests never meet at the server: each execution is one request.
    for route in shared.routes:
        assert idle.executions[route.steps[-1]] == pytest.approx(idle.batches[route.served])
    # The trunk serves every condition's requests: its execution is their frame-weighted request.
    requests_per_frame = sum(route.share / idle.batches[route.served] for route in shared.routes)
    assert idle.executions["trunk"] == pytest.approx(1 / requests_per_frame, rel=0.01)

    # A tight budget keeps requests small past the knee, so Triton's queue merges them.
    tight = PlanSettings(fps=10, latency_budget_s=0.12)
    monolith = design_cost("monolith", model_config)
    knee, _ = max_cameras(monolith, hardware, model_config, tight)
    busy = operating_point(monolith, hardware, model_config, 2 * knee, tight)
    assert busy.binding != "none"
    assert busy.batches["monolith"] < busy.executions["monolith"] <= MAX_BATCH_SIZE


def test_the_serving_scale_costs_cpu_as_well_as_time_and_the_hand_off_only_time(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    from pipeline.planner.plan import _DesignModel, _Serving

    cost = design_cost("monolith", model_config)
    serving = _Serving(instances=2, threads=1)
    base = hardware.model_copy(update={"serving_scale": 1.0, "serving_fixed_s": 0.001})
    slower = base.model_copy(update={"serving_scale": 1.3})
    plain, scaled = (_DesignModel(cost, hw, model_config, PlanSettings()) for hw in (base, slower))
    batch = 4
    layers = plain.step_core_s("monolith", batch, serving)
    assert scaled.step_core_s("monolith", batch, serving) == pytest.approx(1.3 * layers)
    # The stub's hand-off lengthens an execution without costing CPU; the scale does both.
    assert plain.step_latency_s("monolith", batch, serving) == pytest.approx(layers + 0.001)
    assert scaled.step_latency_s("monolith", batch, serving) == pytest.approx(1.3 * layers + 0.001)
    assert scaled.point(16).stage_ms.inference > plain.point(16).stage_ms.inference
    assert scaled.point(16).achieved_fps < plain.point(16).achieved_fps


def test_heads_pay_the_measured_feature_hand_off_and_trunks_do_not(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    from pipeline.planner.hardware import MB
    from pipeline.planner.plan import _DesignModel, _Serving

    cost = design_cost("shared-groups", model_config)
    serving = _Serving(instances=1, threads=1)
    cheap = _DesignModel(
        cost, hardware.model_copy(update={"triton_feature_cpu_s_per_mb": 1e-4}), model_config, PlanSettings()
    )
    dear = _DesignModel(
        cost, hardware.model_copy(update={"triton_feature_cpu_s_per_mb": 2e-3}), model_config, PlanSettings()
    )
    head = next(name for name, model in cost.models.items() if model.reads_features)
    batch = 6
    moved_mb = batch * cost.models[head].input_bytes / MB
    difference = dear.step_core_s(head, batch, serving) - cheap.step_core_s(head, batch, serving)
    assert difference == pytest.approx((2e-3 - 1e-4) * moved_mb)
    assert dear.step_core_s("trunk", batch, serving) == cheap.step_core_s("trunk", batch, serving)
    # A dearer hand-off makes the design serve fewer frames; the monolith moves no features and is the same.
    assert dear.point(24).achieved_fps < cheap.point(24).achieved_fps
    monolith = design_cost("monolith", model_config)
    fps = [
        _DesignModel(monolith, model.hardware, model_config, PlanSettings()).point(24).achieved_fps
        for model in (cheap, dear)
    ]
    assert fps[0] == fps[1]


def test_profiles_without_the_hand_off_probe_charge_two_copies_at_the_element_wise_rate(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    from pipeline.planner.plan import _DesignModel

    old = hardware.model_copy(update={"triton_feature_cpu_s_per_mb": None})
    model = _DesignModel(design_cost("shared-condition", model_config), old, model_config, PlanSettings())
    assert model.feature_handoff_s(1e6) == pytest.approx(2e6 * old.operators.elementwise.per_byte_s)


def test_one_workers_requests_in_flight_cap_a_slow_route_until_more_workers_share_it(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    from pipeline.planner.plan import _DesignModel, _Serving

    cost = design_cost("monolith", model_config)
    serving = _Serving(instances=2, threads=1)
    one_worker = _DesignModel(cost, hardware, model_config, PlanSettings(cameras_per_worker=64))
    route = cost.routes[0]
    batch, slowdown = 3.0, 1.2
    carried = 2 * batch / (slowdown * one_worker.route_service_s(route, batch, serving))
    # 40 cameras on one worker: it carries two requests of 3 frames per slowed service time, no more.
    capped = one_worker.in_flight_fps(40, {route.served: batch}, serving, slowdown)
    assert capped == pytest.approx(carried)
    assert capped < 400
    # Five workers of 8 cameras (80 fps each) each carry their own.
    spread = _DesignModel(cost, hardware, model_config, PlanSettings(cameras_per_worker=8))
    spread_fps = spread.in_flight_fps(40, {route.served: batch}, serving, slowdown)
    assert spread_fps == pytest.approx(5 * min(80.0, carried)) and spread_fps > 2 * capped
    # A single request in flight (the cap) halves what one worker carries.
    single = _DesignModel(cost, hardware, model_config, PlanSettings(cameras_per_worker=64, max_in_flight=1))
    assert single.in_flight_fps(40, {route.served: batch}, serving, slowdown) == pytest.approx(carried / 2)
