"""``camfleet plan --validate REPORT.json``: predict a load test's points and compare with what it measured.

The report's settings (per-camera fps, condition mix, camera resolution, input size, batching) drive the
prediction; each design's predicted knee (most swept camera counts that meet the target fps) and aggregate
fps are set against the measured ones, and the design rankings (by knee, then aggregate fps at the largest
camera count) are compared.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.errors import ConfigError
from pipeline.models.model_config import ModelConfig
from pipeline.planner.cost import design_cost
from pipeline.planner.hardware import HardwareProfile
from pipeline.planner.plan import PlanSettings, operating_point
from pipeline.report_schema import MEETS_TARGET, LoadTestReport

logger = logging.getLogger(__name__)

"""A point meets its target when per-camera fps >= 0.95 x target (as in the load tester)."""


@dataclass(frozen=True)
class DesignCheck:
    """Predicted against measured for one design."""

    design: str
    measured_knee: int | None
    predicted_knee: int
    knee_error: float | None
    measured_fps: float
    predicted_fps: float
    fps_error: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Validation:
    """The whole comparison."""

    designs: list[DesignCheck]
    measured_ranking: list[str]
    predicted_ranking: list[str]

    @property
    def ranking_matches(self) -> bool:
        """True when both rankings order the designs the same way."""
        return self.measured_ranking == self.predicted_ranking

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "designs": [d.to_dict() for d in self.designs],
            "measured_ranking": self.measured_ranking,
            "predicted_ranking": self.predicted_ranking,
            "ranking_matches": self.ranking_matches,
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
        shared_memory=bool(s.get("shared_memory", True)),
    )


def _ranking(knees: dict[str, int], fps: dict[str, float]) -> list[str]:
    return sorted(knees, key=lambda name: (-knees[name], -fps[name]))


def validate_report(report: LoadTestReport, config: ModelConfig, hardware: HardwareProfile) -> Validation:
    """Predict every point of ``report`` and compare knees, aggregate fps and ranking."""
    config = config.with_input_size(report.input_size) if config.input_size != report.input_size else config
    settings = settings_from_report(report)
    checks: list[DesignCheck] = []
    measured_knees, measured_fps, predicted_knees, predicted_fps = {}, {}, {}, {}
    for result in report.designs:
        if not result.points:
            continue
        cost = design_cost(result.design, config, mix=settings.mix)
        knee, top_predicted = 0, 0.0
        points = sorted(result.points, key=lambda p: p.cameras)
        for point in points:
            predicted = operating_point(cost, hardware, config, point.cameras, settings)
            if predicted.per_camera_fps >= MEETS_TARGET * point.target_fps:
                knee = max(knee, point.cameras)
            top_predicted = predicted.achieved_fps
        top_measured = points[-1].aggregate_fps
        measured_knees[result.design] = result.knee_cameras or 0
        measured_fps[result.design] = top_measured
        predicted_knees[result.design] = knee
        predicted_fps[result.design] = top_predicted
        checks.append(
            DesignCheck(
                design=result.design,
                measured_knee=result.knee_cameras,
                predicted_knee=knee,
                knee_error=(knee - result.knee_cameras) / result.knee_cameras
                if result.knee_cameras
                else None,
                measured_fps=round(top_measured, 1),
                predicted_fps=round(top_predicted, 1),
                fps_error=(top_predicted - top_measured) / top_measured if top_measured else 0.0,
            )
        )
    return Validation(
        designs=checks,
        measured_ranking=_ranking(measured_knees, measured_fps),
        predicted_ranking=_ranking(predicted_knees, predicted_fps),
    )
