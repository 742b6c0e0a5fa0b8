"""`plan validate`: errors, knee steps and rankings against reports built from the real schema."""

from __future__ import annotations

from pipeline.models.model_config import ModelConfig
from pipeline.planner.cost import design_cost
from pipeline.planner.hardware import HardwareProfile
from pipeline.planner.plan import PlanSettings, operating_point
from pipeline.planner.speed import SpeedReference
from pipeline.planner.validate import DesignCheck, Validation, report_config, validate_report
from pipeline.report_schema import DesignResult, Limits, LoadTestReport, SweepPoint

COUNTS = tuple(range(2, 49, 2))  # past every knee, in steps of two


def _report_from_planner(
    config: ModelConfig,
    hardware: HardwareProfile,
    scale: dict[str, float],
    speed: SpeedReference | None = None,
) -> LoadTestReport:
    """A report whose 'measurements' are the planner's own predictions times ``scale[design]``."""
    designs = []
    mix = {"day": 0.5, "dusk": 0.3, "night": 0.2}  # the report's (below): routes and camera layout alike
    for design, factor in scale.items():
        cost = design_cost(design, config, mix=mix)
        points = []
        for n in COUNTS:
            predicted = operating_point(cost, hardware, config, n, PlanSettings(mix=mix))
            fps = min(predicted.offered_fps, predicted.achieved_fps * factor)
            points.append(
                SweepPoint(
                    cameras=n,
                    target_fps=10,
                    offered_fps=10 * n,
                    aggregate_fps=fps,
                    per_camera_fps=fps / n,
                    meets_target=fps / n >= 9.5,
                )
            )
        knee = max((p.cameras for p in points if p.meets_target), default=None)
        designs.append(
            DesignResult(
                design=design, points=points, knee_cameras=knee, binding_limit="pipeline", speed=speed
            )
        )
    return LoadTestReport(
        created="2026-12-02T00:00:00Z",
        machine={"cpus": 2},
        settings={"fps": 10, "mix": {"day": 0.5, "dusk": 0.3, "night": 0.2}, "resolution": "640x360"},
        input_size=config.input_size,
        architecture=config.model_dump(mode="json"),
        limits=Limits(decode_only_fps=1000),
        designs=designs,
    )


def test_validate_its_own_predictions_has_no_error(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    report = _report_from_planner(model_config, hardware, {"monolith": 1.0, "specialists-condition": 1.0})
    result = validate_report(report, model_config, hardware)
    assert all(abs(d.fps_error) < 1e-3 for d in result.designs)
    assert result.ranking_matches


def test_validate_reports_error_of_a_slower_measurement(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    report = _report_from_planner(model_config, hardware, {"monolith": 0.5, "specialists-condition": 1.0})
    result = validate_report(report, model_config, hardware)
    monolith = next(d for d in result.designs if d.design == "monolith")
    # Predicted twice the measured peak (unless the measurement was capped by the offered load).
    assert monolith.fps_error > 0.5 and not monolith.fps_ok
    assert monolith.knee_step >= 1


def test_validate_predicts_each_sweep_at_the_machine_speed_it_measured(
    model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    """A load test on the same machine running 30% slower than at calibration: not a planner error."""
    calibrated = SpeedReference(torch_s=0.03, python_s=0.04, memory_s=0.02)
    profile = hardware.model_copy(update={"speed": calibrated})
    slower = SpeedReference(torch_s=0.039, python_s=0.052, memory_s=0.026)
    designs = {"monolith": 1.0, "specialists-condition": 1.0}
    report = _report_from_planner(model_config, profile.scaled(1.3), designs, speed=slower)
    scaled = validate_report(report, model_config, profile, scale_speed=True)
    assert all(d.speed_factor == 1.3 and abs(d.fps_error) < 1e-3 for d in scaled.designs)
    as_calibrated = validate_report(report, model_config, profile)
    monolith = next(d for d in as_calibrated.designs if d.design == "monolith")
    assert monolith.speed_factor is None and monolith.fps_error > 0.2  # the drift read as planner error


def test_report_config_prefers_the_recorded_architecture(model_config: ModelConfig) -> None:
    wide = ModelConfig.model_validate({**model_config.model_dump(), "input_size": 192})
    report = LoadTestReport(
        created="2026-12-02T00:00:00Z",
        machine={},
        settings={},
        input_size=192,
        architecture=wide.model_dump(mode="json"),
        limits=Limits(decode_only_fps=1),
        designs=[],
    )
    assert report_config(report, model_config) == wide
    older = report.model_copy(update={"architecture": None})
    assert report_config(older, model_config).input_size == 192


def _check(design: str, knee: int, fps: float) -> DesignCheck:
    return DesignCheck(design, knee, knee, 0, 2, fps, fps, 0.0)


def test_a_tie_in_the_measurement_does_not_count_against_the_ranking() -> None:
    # b and c: knees one step apart, fps 4% apart (a tie); a is well ahead of both.
    checks = [_check("a", 20, 200.0), _check("b", 14, 139.5), _check("c", 12, 145.2)]
    measured = ["a", "b", "c"]
    swapped_tie = Validation("r", "cfg", checks, measured, ["a", "c", "b"])
    assert not swapped_tie.ranking_matches
    assert swapped_tie.separated_ranking_matches and swapped_tie.misordered_pairs == []
    swapped_apart = Validation("r", "cfg", checks, measured, ["c", "a", "b"])
    assert swapped_apart.misordered_pairs == [("a", "c")]
    assert not swapped_apart.separated_ranking_matches
    # Knees within a step but fps 20% apart: the load test does separate them.
    close_knees = [_check("a", 14, 170.0), _check("b", 12, 140.0)]
    assert Validation("r", "cfg", close_knees, ["a", "b"], ["b", "a"]).misordered_pairs == [("a", "b")]
