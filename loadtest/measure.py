"""The measurement core shared by the load tester and ``camfleet bench pipeline``: one pipeline point.

:func:`measure_point` runs the real :class:`~pipeline.runtime.pipeline.Pipeline` on already running
services for a warm-up, then for a measured window, and turns the difference of every counter over that
window into a :class:`~loadtest.schema.SweepPoint` plus the raw figures the benchmark needs (CPU seconds,
decoded frames). The loop is driven here, on this thread, so counters are read between steps.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray

from loadtest.resources import ResourceSampler, driver_pids, with_children
from loadtest.schema import ModelServerStats, SweepPoint
from pipeline.config import PipelineConfig
from pipeline.errors import InferenceError
from pipeline.models.model_config import ModelConfig
from pipeline.runtime.pipeline import Pipeline
from pipeline.runtime.services import RunningServices
from pipeline.serving.client import ModelStatistics, TritonClient

logger = logging.getLogger(__name__)

MEETS_TARGET = 0.95
_CALL_TIMEOUT_S = 30.0
_DRAIN_S = 5.0
_FIRST_RESULT_S = 30.0


@dataclass(frozen=True)
class PointRun:
    """One measured point: the report's view and the raw figures behind it."""

    point: SweepPoint
    seconds: float
    inferred: int
    frames_in: int
    skipped_motion: int
    decoded: int
    batch_sizes: dict[int, int]
    cpu_seconds: dict[str, float]


def model_stats(client: TritonClient, models: list[str]) -> dict[str, ModelStatistics]:
    """Triton's cumulative statistics of ``models`` (missing ones are left out, with a warning)."""
    stats = {}
    for model in models:
        try:
            stats[model] = client.statistics(model)
        except InferenceError as exc:
            logger.warning("no Triton statistics for %s: %s", model, exc)
    return stats


def stats_delta(
    before: dict[str, ModelStatistics], after: dict[str, ModelStatistics]
) -> list[ModelServerStats]:
    """Per-model statistics over a window (the difference of two cumulative readings)."""
    rows = []
    for model, end in after.items():
        start = before.get(model)
        if start is None:
            continue
        requests = end.request_count - start.request_count
        executions = end.execution_count - start.execution_count
        inferences = end.inference_count - start.inference_count
        compute = sum(getattr(end, f) - getattr(start, f) for f in ("compute_input_ns", "compute_infer_ns"))
        compute += end.compute_output_ns - start.compute_output_ns
        rows.append(
            ModelServerStats(
                model=model,
                requests=requests,
                executions=executions,
                mean_batch_size=round(inferences / executions, 2) if executions else 0.0,
                mean_queue_ms=round((end.queue_ns - start.queue_ns) / requests / 1e6, 3) if requests else 0.0,
                mean_compute_ms=round(compute / requests / 1e6, 3) if requests else 0.0,
            )
        )
    return rows


def _actor_pids(pipeline: Pipeline) -> list[int]:
    refs = [g.actor.__ray_call__.remote(lambda _self: os.getpid()) for g in pipeline.fleet.groups]
    return [int(pid) for pid in ray.get(refs, timeout=_CALL_TIMEOUT_S)]


def _redis_pid(running: RunningServices) -> int | None:
    return running.redis_server.pid if running.redis_server is not None else None


def _counters(pipeline: Pipeline) -> dict[str, Any]:
    cameras = pipeline.stats.cameras.values()
    fleet = pipeline.fleet.stats()
    batcher = pipeline.batcher.stats
    return {
        "inferred": {c.camera_id: c.frames_inferred for c in cameras},
        "frames_in": sum(c.frames_in for c in cameras),
        "skipped": sum(c.frames_skipped_motion for c in cameras),
        "decoded": sum(s.decoded for s in fleet.values()),
        "decode_drops": sum(s.dropped for s in fleet.values()),
        "batcher_drops": batcher.dropped_queue_full + batcher.dropped_stale + batcher.dropped_inference_error,
        "errors": batcher.request_errors,
        "batches": dict(batcher.batch_sizes),
    }


def _all_flowing(pipeline: Pipeline, cameras: int) -> bool:
    inferred = [c.frames_inferred for c in pipeline.stats.cameras.values()]
    return len(inferred) == cameras and min(inferred, default=0) > 0


def _step_until(pipeline: Pipeline, deadline: float, tick: Callable[[], None] | None) -> None:
    while time.monotonic() < deadline:
        pipeline.step()
        if tick is not None:
            tick()


def measure_point(
    config: PipelineConfig,
    model_config: ModelConfig,
    running: RunningServices,
    *,
    warmup_s: float,
    duration_s: float,
    models: list[str],
    tick: Callable[[], None] | None = None,
) -> PointRun:
    """Run ``config``'s cameras through a fresh pipeline and measure the window after ``warmup_s``."""
    pipeline = Pipeline(config, model_config=model_config, triton=running.triton, sink=running.sink)
    target = min(c.fps for c in config.cameras)
    try:
        pipeline.start()
        _step_until(pipeline, time.monotonic() + warmup_s, tick)
        # Actors open streams and Triton runs its first batch slowly: measure only a flowing pipeline.
        first_deadline = time.monotonic() + _FIRST_RESULT_S
        while time.monotonic() < first_deadline and not _all_flowing(pipeline, len(config.cameras)):
            _step_until(pipeline, time.monotonic() + 0.1, tick)
        components = {
            "driver": driver_pids(),
            "camera_actors": _actor_pids(pipeline),
            "triton": with_children(running.triton_server.pid if running.triton_server else None),
            "redis": with_children(_redis_pid(running)),
        }
        sampler = ResourceSampler(components)
        before, server0 = _counters(pipeline), model_stats(running.triton, models)
        for camera in pipeline.stats.cameras.values():
            camera.latencies_ms.clear()
        sampler.start()
        t0 = time.monotonic()
        _step_until(pipeline, t0 + duration_s, tick)
        seconds = time.monotonic() - t0
        usage = sampler.stop()
        after, server1 = _counters(pipeline), model_stats(running.triton, models)
        latencies = np.array([v for c in pipeline.stats.cameras.values() for v in c.latencies_ms])
    finally:
        pipeline.stop(drain_timeout_s=_DRAIN_S)
    per_camera = [after["inferred"][c] - before["inferred"].get(c, 0) for c in after["inferred"]]
    inferred = sum(per_camera)
    per_camera_fps = float(np.mean(per_camera)) / seconds if per_camera else 0.0

    def pct(q: float) -> float | None:
        return round(float(np.percentile(latencies, q)), 1) if latencies.size else None

    batches = {k: v - before["batches"].get(k, 0) for k, v in after["batches"].items()}
    point = SweepPoint(
        cameras=len(config.cameras),
        target_fps=target,
        offered_fps=len(config.cameras) * target,
        aggregate_fps=round(inferred / seconds, 2),
        per_camera_fps=round(per_camera_fps, 2),
        latency_p50_ms=pct(50),
        latency_p95_ms=pct(95),
        latency_p99_ms=pct(99),
        dropped_frames=sum(max(0, after[k] - before[k]) for k in ("decode_drops", "batcher_drops")),
        errors=max(0, after["errors"] - before["errors"]),
        cpu_percent=usage.cpu_percent,
        rss_mb=usage.rss_mb,
        models=stats_delta(server0, server1),
        meets_target=per_camera_fps >= MEETS_TARGET * target,
    )
    return PointRun(
        point=point,
        seconds=seconds,
        inferred=inferred,
        frames_in=after["frames_in"] - before["frames_in"],
        skipped_motion=after["skipped"] - before["skipped"],
        decoded=after["decoded"] - before["decoded"],
        batch_sizes={k: v for k, v in batches.items() if v > 0},
        cpu_seconds=usage.cpu_seconds,
    )
