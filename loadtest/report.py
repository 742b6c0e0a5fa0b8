"""Turn a load test's outcome into ``report.json``: knee and binding limit per design, and a conclusion.

The report is a :class:`~pipeline.report_schema.LoadTestReport`.

Figures the schema has no field for (inference at batch 1, the batch the pipeline ran at, the efficiency
ratios, skipped camera counts) go to ``details.json`` beside the report.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
from typing import Any, Literal

import psutil

from loadtest.runner import DesignSweep, LoadTestOutcome
from pipeline.planner.speed import SpeedReference
from pipeline.report_schema import DesignResult, Limits, LoadTestReport

logger = logging.getLogger(__name__)

Binding = Literal["decode", "inference", "pipeline", "none"]
NEAR_LIMIT = 0.75
"""A design that fell behind at >= this share of its lower limit is bound by that limit, not the pipeline."""


def knee(sweep: DesignSweep) -> int | None:
    """Most cameras that still met the target fps (None when even the first point missed it)."""
    met = [r.point.cameras for r in sweep.runs if r.point.meets_target]
    return max(met) if met else None


def lower_limit(outcome: LoadTestOutcome, sweep: DesignSweep) -> tuple[float, Binding]:
    """The lower of the decode-only and this design's inference-only limits, and which one it is."""
    decode = outcome.decode.fps if outcome.decode else float("inf")
    if sweep.inference_fps and sweep.inference_fps <= decode:
        return sweep.inference_fps, "inference"
    return decode, "decode"


def binding_limit(outcome: LoadTestOutcome, sweep: DesignSweep) -> Binding:
    """What stopped growth: the lower limit if the best aggregate came near it, else the pipeline itself."""
    if all(r.point.meets_target for r in sweep.runs):
        return "none"
    limit, which = lower_limit(outcome, sweep)
    best = max(r.point.aggregate_fps for r in sweep.runs)
    return which if best >= NEAR_LIMIT * limit else "pipeline"


def versus_naive(camfleet_fps: float, naive_fps: float, offered_fps: float) -> float:
    """Camfleet over naive, both capped at the offered rate.

    A live camera cannot deliver more than its rate for long; anything above it in a short window is the
    backlog from the warm-up being drained, which would reward whichever side fell further behind earlier.
    """
    return min(camfleet_fps, offered_fps) / max(min(naive_fps, offered_fps), 1e-9)


def efficiency(outcome: LoadTestOutcome, sweep: DesignSweep) -> dict[str, float | None]:
    """Aggregate over the lower limit, at the knee and at the best point; worst camfleet/naive ratio."""
    limit, _ = lower_limit(outcome, sweep)
    at_knee = next((r.point.aggregate_fps for r in sweep.runs if r.point.cameras == knee(sweep)), None)
    best = max((r.point.aggregate_fps for r in sweep.runs), default=0.0)
    vs_naive = [
        versus_naive(r.point.aggregate_fps, sweep.baseline_fps[r.point.cameras], r.point.offered_fps)
        for r in sweep.runs
        if sweep.baseline_fps.get(r.point.cameras)
    ]
    return {
        "lower_limit_fps": round(limit, 1),
        "ratio_at_knee": round(at_knee / limit, 3) if at_knee is not None and limit else None,
        "ratio_best": round(best / limit, 3) if limit else None,
        "min_ratio_vs_naive": round(min(vs_naive), 3) if vs_naive else None,
    }


def conclusion(outcome: LoadTestOutcome) -> str:
    """Which design wins for this mix and why, in plain words."""
    if not outcome.sweeps:
        return "No design was measured."
    fps = outcome.settings.fps

    def rank(s: DesignSweep) -> tuple[int, float]:
        return knee(s) or 0, max((r.point.aggregate_fps for r in s.runs), default=0.0)

    ordered = sorted(outcome.sweeps, key=rank, reverse=True)
    best = ordered[0]
    parts = [
        f"{best.design} wins for this mix at {fps:g} fps per camera: it serves "
        f"{knee(best) or 0} camera(s) at target (the most of the swept counts) and reaches "
        f"{rank(best)[1]:.0f} frames/s."
    ]
    for other in ordered[1:]:
        parts.append(
            f"{other.design}: knee {knee(other) or 0}, {rank(other)[1]:.0f} frames/s; inference alone "
            f"{other.inference_fps:.0f} frames/s at batch 32 against {best.inference_fps:.0f} "
            f"for {best.design}."
        )
    binding = binding_limit(outcome, best)
    why = {
        "inference": "inference binds: the model cost per frame sets the capacity, so the design with "
        "the cheapest frame (after batching and the mix's split across models) serves the most cameras",
        "decode": "decode binds: every design shares the same decode cost, so more cameras need more cores",
        "pipeline": "the pipeline fell behind before either limit: the driver, Ray calls or transport bind",
        "none": "no design fell behind within the swept counts; sweep more cameras to find the knee",
    }[binding]
    parts.append(f"Why: {why}.")
    if outcome.decode:
        parts.append(f"Decode alone reaches {outcome.decode.fps:.0f} frames/s ({outcome.decode.method}).")
    return " ".join(parts)


def machine() -> dict[str, str | int | float]:
    """The machine the run measured."""
    load = os.getloadavg()
    return {
        "cpu_count": os.cpu_count() or 0,
        "cpu_model": platform.processor() or platform.machine(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": "none",
        "load_average_1m_at_start": round(load[0], 2),
        "python": platform.python_version(),
    }


def build_report(outcome: LoadTestOutcome) -> LoadTestReport:
    """The validated ``report.json`` model of ``outcome``."""
    designs = [
        DesignResult(
            design=s.design,
            points=[r.point for r in s.runs],
            knee_cameras=knee(s),
            binding_limit=binding_limit(outcome, s),
            baseline_fps=dict(s.baseline_fps),
            triton_restarts=len(s.server_failures),
            speed=SpeedReference.mean(s.speed_readings) if s.speed_readings else None,
        )
        for s in outcome.sweeps
    ]
    return LoadTestReport(
        created=outcome.created,
        machine=machine(),
        settings=outcome.settings.record(),
        input_size=outcome.model_config.input_size,
        architecture=outcome.model_config.model_dump(mode="json"),
        limits=Limits(
            decode_only_fps=round(outcome.decode.fps, 1) if outcome.decode else 0.0,
            inference_only_fps={s.design: s.inference_fps for s in outcome.sweeps},
        ),
        designs=designs,
        conclusion=conclusion(outcome),
    )


def details(outcome: LoadTestOutcome) -> dict[str, Any]:
    """What ``details.json`` holds: figures outside the schema."""
    return {
        "wall_s": outcome.wall_s,
        "decode": None if outcome.decode is None else vars(outcome.decode),
        "designs": {
            s.design: {
                "inference_batch32_fps": s.inference_fps,
                "inference_batch1_fps": s.inference_batch1_fps,
                "pipeline_mean_batch_last_point": s.typical_batch,
                "skipped_camera_counts": s.skipped,
                "refined_camera_counts": s.refined,
                **efficiency(outcome, s),
                "points": [
                    {
                        "cameras": r.point.cameras,
                        "decoded": r.decoded,
                        "inferred": r.inferred,
                        "batch_sizes": r.batch_sizes,
                        "pacing": {
                            model: [dataclasses.asdict(worker) for worker in workers]
                            for model, workers in r.pacing.items()
                        },
                        "cpu_seconds": r.cpu_seconds,
                    }
                    for r in s.runs
                ],
            }
            for s in outcome.sweeps
        },
    }
