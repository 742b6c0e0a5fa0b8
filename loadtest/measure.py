"""The measurement core shared by the load tester and ``camfleet bench pipeline``: one pipeline point.

:func:`measure_point` starts a real fleet (controller and camera workers) on already running services and
lets it warm up: ``warmup_s``, then until every camera has delivered a result, then (bounded) until no
camera's reader is still catching up on the backlog of its start. Then it opens a
:class:`~pipeline.status.MeasurementWindow` on every worker: throughput and latency count the frames their
cameras *sent* inside the window (steady state), so frames buffered during warm-up and inferred inside the
window are discarded (their number is reported), and frames sent before the end count when their result
comes a little later. Latency runs from the (estimated) send, so a reader's backlog is part of it. CPU
seconds per process group and the decode counters are read at both ends of the window. This process only
reads counters: no frame passes through it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from loadtest.resources import ResourceSampler, driver_pids, with_children
from pipeline.batching.batcher import ModelPacing
from pipeline.config import PipelineConfig
from pipeline.errors import InferenceError
from pipeline.models.model_config import ModelConfig
from pipeline.report_schema import MEETS_TARGET, ModelServerStats, SweepPoint
from pipeline.runtime.fleet import Fleet, start_fleet
from pipeline.runtime.services import RunningServices
from pipeline.serving.client import ModelStatistics, TritonClient
from pipeline.status import FleetStatus, MeasurementWindow
from pipeline.worker.live_stats import histogram_delta, histogram_percentile

logger = logging.getLogger(__name__)

_CALL_TIMEOUT_S = 30.0
_DRAIN_S = 5.0
_FIRST_RESULT_S = 30.0
_STEADY_S = 1.0  # a camera is steady once its reader has read at the camera's pace this long
_STEADY_WAIT_S = 10.0  # past saturation readers keep falling behind and skipping: measure them anyway
_WINDOW_LEAD_S = 0.5  # the window opens this long after it is sent, so every worker has it in time


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
    camera_fps: dict[str, float]
    discarded: int
    pacing: dict[str, list[ModelPacing]]
    """Each model's batch target, requests allowed in flight and service estimate at the end of the window,
    one entry per worker (what the batchers had settled on under this load)."""
    worker_cpu: dict[str, float]
    """CPU seconds of the camera workers in the window: the whole processes, and their reader (decode),
    loop and Triton client threads, from the workers' own per-thread accounting."""

    @property
    def service_ms(self) -> dict[str, float]:
        """The slowest worker's estimated service time of one batch, per model (models measured only)."""
        return {
            model: max(estimates)
            for model, workers in self.pacing.items()
            if (estimates := [w.service_ms_per_batch for w in workers if w.service_ms_per_batch is not None])
        }


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


def _redis_pid(running: RunningServices) -> int | None:
    return running.redis_server.pid if running.redis_server is not None else None


@dataclass(frozen=True)
class _Reading:
    """Totals of the fleet at one moment (every counter is cumulative)."""

    frames_in: int
    skipped: int
    decoded: int
    decode_drops: int
    """Frames dropped before the batcher: by a camera's bounded queue, or skipped to catch up with live."""
    batcher_drops: int
    errors: int
    batches: dict[int, int]
    worker_cpu: dict[str, float]
    inferred: int
    detections: int

    @classmethod
    def of(cls, status: FleetStatus) -> _Reading:
        workers = status.live_workers()
        batches: dict[int, int] = {}
        for worker in workers:
            for size, count in worker.batcher.batch_sizes.items():
                batches[size] = batches.get(size, 0) + count
        return cls(
            frames_in=sum(c.frames_in for c in status.cameras),
            skipped=sum(c.frames_skipped_motion for c in status.cameras),
            decoded=sum(c.frames_decoded for c in status.cameras),
            decode_drops=sum(c.dropped_decode_queue + c.skipped_to_live for c in status.cameras),
            batcher_drops=sum(
                w.batcher.dropped_behind + w.batcher.dropped_stale + w.batcher.dropped_inference_error
                for w in workers
            ),
            errors=sum(w.batcher.request_errors for w in workers),
            batches=batches,
            worker_cpu={
                "process": sum(w.cpu_seconds for w in workers),
                "decode": sum(w.decode_cpu_s for w in workers),
                "loop": sum(w.loop_cpu_s for w in workers),
                "transport": sum(w.transport_cpu_s for w in workers),
            },
            inferred=sum(c.frames_inferred for c in status.cameras),
            detections=sum(c.detections for c in status.cameras),
        )


def _pacing(status: FleetStatus) -> dict[str, list[ModelPacing]]:
    """Every worker's pacing, per model."""
    paced: dict[str, list[ModelPacing]] = {}
    for worker in status.live_workers():
        for model, pacing in worker.batcher.pacing.items():
            paced.setdefault(model, []).append(pacing)
    return paced


def _all_flowing(status: FleetStatus, cameras: int) -> bool:
    inferred = [c.frames_inferred for c in status.cameras]
    return len(inferred) == cameras and min(inferred, default=0) > 0


def _wait_steady(fleet: Fleet, status: FleetStatus) -> FleetStatus:
    """Wait (bounded) until no camera's reader is still catching up on the backlog of its start."""
    deadline = time.monotonic() + _STEADY_WAIT_S
    while True:
        catching_up = [c.camera_id for c in status.cameras if c.steady_s < _STEADY_S]
        if not catching_up:
            return status
        if time.monotonic() >= deadline:
            logger.info(
                "%d of %d cameras still catching up after %.0f s more warm-up (%s); measuring anyway",
                len(catching_up),
                len(status.cameras),
                _STEADY_WAIT_S,
                ", ".join(catching_up[:5]),
            )
            return status
        time.sleep(0.2)
        status = fleet.refresh()


def measure_point(
    config: PipelineConfig,
    model_config: ModelConfig,
    running: RunningServices,
    *,
    warmup_s: float,
    duration_s: float,
    models: list[str],
) -> PointRun:
    """Run ``config``'s cameras through a fresh fleet and measure the window after ``warmup_s``."""
    fleet = start_fleet(
        config,
        input_size=model_config.input_size,
        triton_urls=running.triton_urls,
        redis_url=running.redis_url,
    )
    target = min(c.fps for c in config.cameras)
    try:
        time.sleep(warmup_s)
        # Workers open streams and Triton runs its first batch slowly: measure only a flowing fleet.
        first_deadline = time.monotonic() + _FIRST_RESULT_S
        status = fleet.refresh()
        while time.monotonic() < first_deadline and not _all_flowing(status, len(config.cameras)):
            time.sleep(0.2)
            status = fleet.refresh()
        status = _wait_steady(fleet, status)
        controller_pid, _ = fleet.controller_cpu()
        components = {
            "driver": driver_pids(),
            "controller": [controller_pid],
            "camera_workers": sorted({w.pid for w in status.live_workers()}),
            "triton": with_children(running.triton_server.pid if running.triton_server else None),
            "redis": with_children(_redis_pid(running)),
        }
        sampler = ResourceSampler(components)
        opens = time.time() + _WINDOW_LEAD_S
        window = MeasurementWindow(opens, opens + duration_s)
        fleet.set_window(window)
        time.sleep(max(0.0, window.start - time.time()))
        before, server0 = _Reading.of(fleet.refresh()), model_stats(running.triton, models)
        sampler.start()
        time.sleep(max(0.0, window.end - time.time()))
        after_status = fleet.refresh()
        usage = sampler.stop()
        after, server1 = _Reading.of(after_status), model_stats(running.triton, models)
        # Frames sent just before the end are still on their way: wait for them (or their drop).
        time.sleep(config.batching.max_frame_age_s + 0.5)
        settled = fleet.refresh()
    finally:
        fleet.stop(drain_timeout_s=_DRAIN_S)
    seconds = window.seconds
    camera_fps = {c.camera_id: c.window_inferred / seconds for c in settled.cameras}
    inferred = sum(c.window_inferred for c in settled.cameras)
    per_camera_fps = float(np.mean(list(camera_fps.values()))) if camera_fps else 0.0
    latency_window: dict[int, int] = {}
    for camera in settled.cameras:
        for index, count in camera.window_latency_counts.items():
            latency_window[index] = latency_window.get(index, 0) + count

    def pct(q: float) -> float | None:
        value = histogram_percentile(latency_window, q)
        return None if math.isnan(value) else round(value, 1)

    batches = histogram_delta(after.batches, before.batches)
    window_inferred = after.inferred - before.inferred
    point = SweepPoint(
        cameras=len(config.cameras),
        target_fps=target,
        offered_fps=len(config.cameras) * target,
        aggregate_fps=round(inferred / seconds, 2),
        per_camera_fps=round(per_camera_fps, 2),
        min_camera_fps=round(min(camera_fps.values()), 2) if camera_fps else None,
        discarded_frames=sum(c.window_discarded for c in settled.cameras),
        latency_p50_ms=pct(50),
        latency_p95_ms=pct(95),
        latency_p99_ms=pct(99),
        dropped_frames=max(0, after.decode_drops - before.decode_drops)
        + max(0, after.batcher_drops - before.batcher_drops),
        errors=max(0, after.errors - before.errors),
        cpu_percent=usage.cpu_percent,
        rss_mb=usage.rss_mb,
        models=stats_delta(server0, server1),
        detections_per_frame=round((after.detections - before.detections) / window_inferred, 2)
        if window_inferred > 0
        else None,
        meets_target=per_camera_fps >= MEETS_TARGET * target,
    )
    return PointRun(
        point=point,
        seconds=seconds,
        inferred=inferred,
        frames_in=after.frames_in - before.frames_in,
        skipped_motion=after.skipped - before.skipped,
        decoded=after.decoded - before.decoded,
        batch_sizes=batches,
        cpu_seconds=usage.cpu_seconds,
        camera_fps=camera_fps,
        discarded=sum(c.window_discarded for c in settled.cameras),
        pacing=_pacing(after_status),
        worker_cpu={k: after.worker_cpu[k] - before.worker_cpu.get(k, 0.0) for k in after.worker_cpu},
    )
