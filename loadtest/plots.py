"""PNG plots of a load-test report: throughput, latency, and the planner's prediction against the measurement.

Throughput carries the limits and knees; the prediction appears only when :mod:`pipeline.planner` imports.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

from pipeline.report_schema import LoadTestReport  # noqa: E402

logger = logging.getLogger(__name__)


def predicted_fps(report: LoadTestReport) -> dict[str, dict[int, float]]:
    """The planner's aggregate fps per design and swept camera count; empty if the planner is unavailable."""
    try:
        from pipeline.models.model_config import load_model_config
        from pipeline.planner.cost import design_cost
        from pipeline.planner.hardware import load_hardware
        from pipeline.planner.plan import operating_point
        from pipeline.planner.validate import report_config, settings_from_report
    except ImportError as exc:  # the planner is optional for the load tester
        logger.info("no predictions: planner unavailable (%s)", exc)
        return {}
    config = report_config(report, load_model_config())
    hardware = load_hardware(None)
    settings = settings_from_report(report)
    predicted: dict[str, dict[int, float]] = {}
    for result in report.designs:
        cost = design_cost(result.design, config, mix=settings.mix)
        predicted[result.design] = {
            p.cameras: round(operating_point(cost, hardware, config, p.cameras, settings).achieved_fps, 1)
            for p in result.points
        }
    return predicted


def throughput_plot(report: LoadTestReport, path: Path) -> Path:
    """Aggregate fps against cameras per design, with offered load, limits and knees."""
    fig, ax = plt.subplots(figsize=(10, 5))
    top = max((p.cameras for d in report.designs for p in d.points), default=1)
    ax.plot(
        [1, top],
        [report.settings.get("fps", 10.0) * 1, report.settings.get("fps", 10.0) * top],  # type: ignore[operator]
        color="grey",
        linestyle=":",
        label="offered (cameras x fps)",
    )
    if report.limits.decode_only_fps:
        ax.axhline(report.limits.decode_only_fps, color="black", linestyle="--", label="decode-only limit")
    for index, result in enumerate(report.designs):
        color = f"C{index}"
        xs = [p.cameras for p in result.points]
        ax.plot(xs, [p.aggregate_fps for p in result.points], marker="o", color=color, label=result.design)
        baseline = sorted(result.baseline_fps.items())
        if baseline:
            ax.plot(
                [c for c, _ in baseline],
                [v for _, v in baseline],
                marker="x",
                linestyle="-.",
                color=color,
                alpha=0.6,
                label=f"{result.design} naive",
            )
        limit = report.limits.inference_only_fps.get(result.design)
        if limit:
            ax.axhline(
                limit, color=color, linestyle=(0, (1, 3)), alpha=0.8, label=f"{result.design} inference-only"
            )
        if result.knee_cameras:
            y = next(p.aggregate_fps for p in result.points if p.cameras == result.knee_cameras)
            ax.plot([result.knee_cameras], [y], marker="*", markersize=16, color=color)
            ax.annotate(
                f"knee {result.knee_cameras}",
                (result.knee_cameras, y),
                textcoords="offset points",
                xytext=(6, -12),
                color=color,
            )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")  # the decode-only limit sits orders of magnitude above CPU inference
    ax.set_xlabel("cameras")
    ax.set_ylabel("frames inferred per second (all cameras, log scale)")
    ax.set_title(
        f"camfleet load test: {report.settings.get('fps')} fps per camera, "
        f"{report.settings.get('batching')} batching"
    )
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: never over the data
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def latency_plot(report: LoadTestReport, path: Path) -> Path:
    """Capture-to-result p50 (solid) and p99 (dashed) latency against cameras per design."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for index, result in enumerate(report.designs):
        points = [p for p in result.points if p.latency_p50_ms is not None]
        xs = [p.cameras for p in points]
        ax.plot(
            xs,
            [float(p.latency_p50_ms or 0) for p in points],
            marker="o",
            color=f"C{index}",
            label=f"{result.design} p50",
        )
        ax.plot(
            xs,
            [float(p.latency_p99_ms or 0) for p in points],
            marker="^",
            linestyle="--",
            color=f"C{index}",
            label=f"{result.design} p99",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("cameras")
    ax.set_ylabel("capture-to-result latency (ms)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def predicted_plot(report: LoadTestReport, predicted: dict[str, dict[int, float]], path: Path) -> Path:
    """The planner's aggregate fps (dashed) against the measured one (solid) per design."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for index, result in enumerate(report.designs):
        xs = [p.cameras for p in result.points]
        ax.plot(
            xs,
            [p.aggregate_fps for p in result.points],
            marker="o",
            color=f"C{index}",
            label=f"{result.design} measured",
        )
        guess = predicted.get(result.design, {})
        ax.plot(
            xs,
            [guess.get(x, float("nan")) for x in xs],
            linestyle="--",
            marker="s",
            color=f"C{index}",
            label=f"{result.design} predicted",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("cameras")
    ax.set_ylabel("frames per second (all cameras)")
    ax.set_title("planner prediction against measurement")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def write_plots(report: LoadTestReport, out: Path, predicted: dict[str, dict[int, float]]) -> list[Path]:
    """Write every plot into ``out``; return their paths."""
    paths = [throughput_plot(report, out / "throughput.png"), latency_plot(report, out / "latency.png")]
    if predicted:
        paths.append(predicted_plot(report, predicted, out / "predicted.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
