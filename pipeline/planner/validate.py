"""``camfleet plan validate REPORT.json...``: predict load tests and compare with what they measured.

For each report the model config it recorded (``architecture``), its camera settings and its swept camera
counts drive the prediction. Per design: the knee (most cameras meeting 95% of the target fps) and the
saturated fps (the most frames/s over the swept counts), predicted against measured; per report: whether
the five designs rank the same (by knee, then saturated fps).

The machine's speed drifts on a shared VM. Where the profile and a design's sweep both timed the
machine-speed reference (:mod:`pipeline.planner.speed`), ``scale_speed=True`` predicts that design from
the profile scaled to the sweep's speed (:meth:`HardwareProfile.scaled`) and reports the factor. It is off
by default: on the load tests of 2026-12-07 the reference read the machine 3-24% slower during the sweeps
than during the calibration while the throughput said otherwise, and scaling made the errors larger.

A load test orders two designs only as finely as it measures them: designs whose knees are within one
sweep step of each other and whose saturated fps are within :data:`FPS_TOLERANCE` are a tie in the
measurement (one rerun can swap them). Besides the strict ranking, each report says which of the pairs
the measurement does separate the prediction orders wrongly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.errors import ConfigError
from pipeline.models.model_config import ModelConfig
from pipeline.planner.cost import design_cost
from pipeline.planner.hardware import HardwareProfile
from pipeline.planner.plan import PlanSettings, max_cameras, saturated_fps
from pipeline.report_schema import DesignResult, LoadTestReport

logger = logging.getLogger(__name__)

FPS_TOLERANCE = 0.10
"""Target: saturated fps within +-10% of the measurement."""


@dataclass(frozen=True)
class DesignCheck:
    """Predicted against measured for one design of one report."""

    design: str
    measured_knee: int | None
    predicted_knee: int
    knee_error: int | None
    """Predicted minus measured knee, in cameras."""
    knee_step: int
    """The sweep's resolution at the knee: the gap to the next measured count above it."""
    measured_fps: float
    predicted_fps: float
    fps_error: float
    speed_factor: float | None = None
    """CPU per unit of work during the sweep over the calibration's (the profile was scaled by it)."""

    @property
    def fps_ok(self) -> bool:
        """Saturated fps within :data:`FPS_TOLERANCE`."""
        return abs(self.fps_error) <= FPS_TOLERANCE

    @property
    def knee_ok(self) -> bool:
        """Knee within one sweep step."""
        return self.knee_error is not None and abs(self.knee_error) <= self.knee_step

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {**asdict(self), "fps_ok": self.fps_ok, "knee_ok": self.knee_ok}


@dataclass(frozen=True)
class Validation:
    """The comparison of one report."""

    report: str
    config: str
    designs: list[DesignCheck]
    measured_ranking: list[str]
    predicted_ranking: list[str]

    @property
    def ranking_matches(self) -> bool:
        """True when both rankings order the designs the same way (strict: ties in the measurement too)."""
        return self.measured_ranking == self.predicted_ranking

    @property
    def misordered_pairs(self) -> list[tuple[str, str]]:
        """Pairs ``(measured better, measured worse)`` the measurement separates and the prediction swaps."""
        checks = {d.design: d for d in self.designs}
        measured = [name for name in self.measured_ranking if name in checks]
        predicted = {name: rank for rank, name in enumerate(self.predicted_ranking)}
        wrong = []
        for i, better in enumerate(measured):
            for worse in measured[i + 1 :]:
                if _separated(checks[better], checks[worse]) and predicted[better] > predicted[worse]:
                    wrong.append((better, worse))
        return wrong

    @property
    def separated_ranking_matches(self) -> bool:
        """True when every pair the measurement separates is ordered the same by the prediction."""
        return not self.misordered_pairs

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "report": self.report,
            "config": self.config,
            "designs": [d.to_dict() for d in self.designs],
            "measured_ranking": self.measured_ranking,
            "predicted_ranking": self.predicted_ranking,
            "ranking_matches": self.ranking_matches,
            "separated_ranking_matches": self.separated_ranking_matches,
            "misordered_pairs": [list(pair) for pair in self.misordered_pairs],
        }


def _separated(a: DesignCheck, b: DesignCheck) -> bool:
    """True when the load test tells ``a`` and ``b`` apart: knees over a step apart, or fps past tolerance."""
    knee_a, knee_b = a.measured_knee or 0, b.measured_knee or 0
    if abs(knee_a - knee_b) > max(a.knee_step, b.knee_step):
        return True
    top = max(a.measured_fps, b.measured_fps)
    return top > 0 and abs(a.measured_fps - b.measured_fps) / top > FPS_TOLERANCE


@dataclass(frozen=True)
class ValidationSummary:
    """Every report's comparison and the targets over all of them."""

    reports: list[Validation]

    @property
    def checks(self) -> list[DesignCheck]:
        """Every design x config point."""
        return [check for report in self.reports for check in report.designs]

    @property
    def fps_within(self) -> float:
        """Share of points with saturated fps within tolerance."""
        checks = self.checks
        return sum(c.fps_ok for c in checks) / len(checks) if checks else 0.0

    @property
    def knees_within(self) -> float:
        """Share of points with the knee within one sweep step."""
        checks = self.checks
        return sum(c.knee_ok for c in checks) / len(checks) if checks else 0.0

    @property
    def rankings_right(self) -> int:
        """Reports whose ranking matches (strict)."""
        return sum(r.ranking_matches for r in self.reports)

    @property
    def separated_rankings_right(self) -> int:
        """Reports whose prediction orders every pair the measurement separates the same way."""
        return sum(r.separated_ranking_matches for r in self.reports)

    @property
    def mean_abs_fps_error(self) -> float:
        """Mean absolute saturated-fps error."""
        checks = self.checks
        return sum(abs(c.fps_error) for c in checks) / len(checks) if checks else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "reports": [r.to_dict() for r in self.reports],
            "fps_within_10pct": round(self.fps_within, 3),
            "knees_within_one_step": round(self.knees_within, 3),
            "rankings_right": self.rankings_right,
            "separated_rankings_right": self.separated_rankings_right,
            "mean_abs_fps_error": round(self.mean_abs_fps_error, 4),
        }


def load_report(path: Path) -> LoadTestReport:
    """Read and validate a load-test ``report.json``.

    Raises:
        ConfigError: if the file is missing, not JSON or not a version-1 report.
    """
    try:
        return LoadTestReport.model_validate(json.loads(path.read_text()))
    except FileNotFoundError as exc:
        raise ConfigError(f"load-test report {path} does not exist") from exc
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ConfigError(f"{path} is not a valid load-test report: {exc}") from exc


def _resolution(value: Any) -> tuple[int, int]:
    if isinstance(value, str) and "x" in value:
        width, height = value.lower().split("x", 1)
        return int(width), int(height)
    if isinstance(value, list) and len(value) == 2:
        return int(value[0]), int(value[1])
    return 640, 360


def settings_from_report(report: LoadTestReport) -> PlanSettings:
    """Plan settings equal to the load test's: fps, mix, resolution and batching where it recorded them."""
    s = report.settings
    fps = next((p.target_fps for d in report.designs for p in d.points), None)
    fps = float(s.get("fps", fps or 10.0))  # type: ignore[arg-type]
    mix = s.get("mix")
    if isinstance(mix, str):
        mix = {k: float(v) for k, v in (part.split("=") for part in mix.split(",") if part)}
    return PlanSettings(
        fps=fps,
        resolution=_resolution(s.get("resolution")),
        mix=mix if isinstance(mix, dict) else None,
        max_batch=int(s.get("max_batch", 32)),  # type: ignore[arg-type]
    )


def report_config(report: LoadTestReport, fallback: ModelConfig) -> ModelConfig:
    """The model config a report recorded, or ``fallback`` at the report's input size for older reports."""
    if report.architecture is not None:
        try:
            return ModelConfig.model_validate(report.architecture)
        except ValidationError as exc:
            raise ConfigError(f"the report's architecture is not a valid model config: {exc}") from exc
    if fallback.input_size != report.input_size:
        return fallback.with_input_size(report.input_size)
    return fallback


def kept_detections(result: DesignResult) -> float | None:
    """Detections per frame the design's weights kept in the load test; None if the report lacks it.

    Like the mix, this is a property of the deployment (the weights), not of the architecture: it sets
    the tracking cost.
    """
    values = [p.detections_per_frame for p in result.points if p.detections_per_frame is not None]
    return sum(values) / len(values) if values else None


def _ranking(knees: dict[str, int], fps: dict[str, float]) -> list[str]:
    return sorted(knees, key=lambda name: (-knees[name], -fps[name]))


def _knee_step(counts: Sequence[int], knee: int | None) -> int:
    above = [c for c in counts if knee is not None and c > knee]
    return (min(above) - knee) if above and knee is not None else 1


def validate_report(
    report: LoadTestReport,
    config: ModelConfig,
    hardware: HardwareProfile,
    *,
    name: str = "report",
    scale_speed: bool = False,
) -> Validation:
    """Predict every design of ``report`` and compare knees, saturated fps and ranking.

    With ``scale_speed``, a design whose sweep timed the machine-speed reference is predicted from the
    profile scaled to that speed (when the profile has the reference too).
    """
    calibrated = hardware
    config = report_config(report, config)
    settings = settings_from_report(report)
    checks: list[DesignCheck] = []
    measured_knees, measured_fps, predicted_knees, predicted_fps = {}, {}, {}, {}
    for result in report.designs:
        if not result.points:
            continue
        cost = design_cost(result.design, config, mix=settings.mix)
        counts = sorted(p.cameras for p in result.points)
        kept = kept_detections(result)
        design_settings = settings if kept is None else replace(settings, detections_per_frame=kept)
        factor = None
        if scale_speed and calibrated.speed is not None and result.speed is not None:
            factor = result.speed.factor(calibrated.speed)
        hardware = calibrated if factor is None else calibrated.scaled(factor)
        knee, _ = max_cameras(cost, hardware, config, design_settings)
        top_predicted = saturated_fps(cost, hardware, config, design_settings, counts)
        top_measured = max(p.aggregate_fps for p in result.points)
        measured_knees[result.design] = result.knee_cameras or 0
        measured_fps[result.design] = top_measured
        predicted_knees[result.design] = knee
        predicted_fps[result.design] = top_predicted
        checks.append(
            DesignCheck(
                design=result.design,
                measured_knee=result.knee_cameras,
                predicted_knee=knee,
                knee_error=None if result.knee_cameras is None else knee - result.knee_cameras,
                knee_step=_knee_step(counts, result.knee_cameras),
                measured_fps=round(top_measured, 1),
                predicted_fps=round(top_predicted, 1),
                fps_error=(top_predicted - top_measured) / top_measured if top_measured else 0.0,
                speed_factor=None if factor is None else round(factor, 3),
            )
        )
    label = str(report.settings.get("model_config", "default"))
    return Validation(
        report=name,
        config=Path(label).stem if label != "default" else "default",
        designs=checks,
        measured_ranking=_ranking(measured_knees, measured_fps),
        predicted_ranking=_ranking(predicted_knees, predicted_fps),
    )


def validate_reports(
    paths: Sequence[Path], config: ModelConfig, hardware: HardwareProfile, *, scale_speed: bool = False
) -> ValidationSummary:
    """:func:`validate_report` for each report path."""
    return ValidationSummary(
        [
            validate_report(load_report(path), config, hardware, name=str(path), scale_speed=scale_speed)
            for path in paths
        ]
    )
