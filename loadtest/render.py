"""Write a load test's files: ``report.json`` (validated), ``details.json``, ``report.md`` and the plots."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from loadtest.plots import predicted_fps, write_plots
from loadtest.report import build_report, details, versus_naive
from loadtest.runner import LoadTestOutcome
from pipeline.errors import CamfleetError
from pipeline.report_schema import LoadTestReport

logger = logging.getLogger(__name__)

_COMPONENTS = ("driver", "camera_actors", "triton", "redis", "machine")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def knee_table(report: LoadTestReport, extra: dict[str, Any], predicted: dict[str, dict[int, float]]) -> str:
    """The knee table: one row per design."""
    rows = [
        "| design | knee (cameras at target) | binding limit | best fps | inference-only b32 / b1 | "
        "lower limit | ratio at knee | ratio best | min camfleet/naive | predicted knee |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fps = float(report.settings.get("fps", 10.0))  # type: ignore[arg-type]
    for d in report.designs:
        e = extra["designs"][d.design]
        best = max((p.aggregate_fps for p in d.points), default=0.0)
        guess = predicted.get(d.design, {})
        predicted_knee = (
            max((c for c, v in guess.items() if v / c >= 0.95 * fps), default=0) if guess else None
        )
        rows.append(
            f"| {d.design} | {d.knee_cameras or 0} | {d.binding_limit} | {best:.1f} | "
            f"{e['inference_batch32_fps']:.0f} / {e['inference_batch1_fps']:.0f} | "
            f"{e['lower_limit_fps']:.0f} | "
            f"{_ratio(e['ratio_at_knee'])} | {_ratio(e['ratio_best'])} | {_ratio(e['min_ratio_vs_naive'])} | "
            f"{'-' if predicted_knee is None else predicted_knee} |"
        )
    return "\n".join(rows)


def points_table(report: LoadTestReport) -> str:
    """Every point: throughput, naive baseline, latency, drops, CPU and Triton figures."""
    rows = [
        "| design | cameras | offered | aggregate fps | per camera | naive fps | x naive "
        "| p50 / p95 / p99 ms | drops | errors | CPU % "
        + " / ".join(_COMPONENTS)
        + " | Triton batch / queue ms / compute ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for d in report.designs:
        for p in d.points:
            naive = d.baseline_fps.get(p.cameras)
            cpu = " / ".join(f"{p.cpu_percent.get(c, 0):.0f}" for c in _COMPONENTS)
            models = "; ".join(
                f"{m.model} {m.mean_batch_size:.1f} / {m.mean_queue_ms:.1f} / {m.mean_compute_ms:.1f}"
                for m in p.models
                if m.requests
            )
            rows.append(
                f"| {d.design} | {p.cameras} | {p.offered_fps:.0f} | {p.aggregate_fps:.1f} | "
                f"{p.per_camera_fps:.1f}{'' if p.meets_target else ' (behind)'}"
                f"{' (Triton died)' if p.server_failed else ''} | "
                f"{'-' if naive is None else f'{naive:.1f}'} | "
                f"{_ratio(versus_naive(p.aggregate_fps, naive, p.offered_fps) if naive else None)} | "
                f"{_ms(p.latency_p50_ms)} / {_ms(p.latency_p95_ms)} / {_ms(p.latency_p99_ms)} | "
                f"{p.dropped_frames} | {p.errors} | {cpu} | {models or '-'} |"
            )
    return "\n".join(rows)


def _restarts(report: LoadTestReport) -> list[str]:
    """A line naming the designs whose Triton died during a point (those points were measured again)."""
    died = [f"{d.design} ({d.triton_restarts}x)" for d in report.designs if d.triton_restarts]
    if not died:
        return []
    return [
        f"Triton died during a point of {', '.join(died)} and was restarted; each such point was measured "
        "again, and one where it died twice is kept, marked (Triton died).",
        "",
    ]


def markdown(report: LoadTestReport, extra: dict[str, Any], predicted: dict[str, dict[int, float]]) -> str:
    """The whole ``report.md``."""
    s = report.settings
    decode = extra.get("decode") or {}
    lines = [
        "# camfleet load test",
        "",
        f"{report.created} - {report.machine.get('cpu_count')} cores ({report.machine.get('cpu_model')}), "
        f"load average {report.machine.get('load_average_1m_at_start')} at start; "
        f"run took {extra['wall_s']} s.",
        f"Settings: fps {s.get('fps')} per camera, mix {s.get('mix')}, {s.get('resolution')} cameras, "
        f"input {report.input_size}px, batching {s.get('batching')} (client max batch {s.get('max_batch')}), "
        f"{'RTSP' if s.get('rtsp') else 'TCP (file mode)'} cameras, warm-up {s.get('warmup_s')} s, "
        f"{s.get('duration_s')} s per point{' (--quick)' if s.get('quick') else ''}.",
        "",
        "## Conclusion",
        "",
        report.conclusion,
        "",
        "## Knee per design",
        "",
        knee_table(report, extra, predicted),
        "",
        f"Decode-only limit: **{report.limits.decode_only_fps:.0f} frames/s** ({decode.get('method', '-')}). "
        "Ratios are aggregate fps over the lower of the decode-only and the design's inference-only limit; "
        "on a CPU-only host decode and inference share the cores, so the pipeline cannot reach either "
        "limit measured alone. camfleet/naive compares both capped at the offered rate (cameras x fps): "
        "above it a short window only measures backlog drained after the warm-up. A knee below the largest "
        "swept count with a ratio near 1 means the limit binds.",
        "",
        "## Points",
        "",
        *_restarts(report),
        points_table(report),
        "",
        "## Plots",
        "",
        "![throughput](throughput.png)",
        "",
        "![latency](latency.png)",
    ]
    if predicted:
        lines += ["", "![predicted against measured](predicted.png)"]
    return "\n".join(lines) + "\n"


def write_outputs(outcome: LoadTestOutcome, out: Path) -> LoadTestReport:
    """Write every file of ``outcome`` into ``out`` and return the validated report."""
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(outcome)
    report = LoadTestReport.model_validate_json(report.model_dump_json())  # what a reader will load
    extra = details(outcome)
    try:
        predicted = predicted_fps(report)
    except CamfleetError as exc:  # a prediction is a bonus; the measurement stands without it
        logger.warning("no planner prediction: %s", exc)
        predicted = {}
    extra["predicted_fps"] = predicted
    (out / "report.json").write_text(report.model_dump_json(indent=2) + "\n")
    (out / "details.json").write_text(json.dumps(extra, indent=2, default=str) + "\n")
    write_plots(report, out, predicted)
    (out / "report.md").write_text(markdown(report, extra, predicted))
    logger.info("load test report written to %s", out)
    return report
