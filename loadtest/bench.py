"""``camfleet bench pipeline``: the pipeline's throughput against its two limits, measured in one run.

Cases, all on the same Triton, Redis and Ray, with simulated cameras:

- ``paced``: the requested cameras at the requested fps (8 x 10 fps at 360p by default). When the offered
  rate is below both limits this case cannot show efficiency; it shows that the target is met.
- ``saturated``: more frames than inference can take (higher fps per camera, and more cameras if needed), so
  aggregate / lower limit is a meaningful efficiency ratio (target >= 0.75).
- ``motion gate``: the paced case with the motion gate on: frames skipped, and how many cameras the same
  inference capacity would serve.

- ``scale-out``: the saturated case with the cameras split over 1, 2, 4... camera workers (processes).

Two CPU figures per inferred frame: the controller's (the controller actor, which only steers: its cost is
fixed per second, about 8 ms/s of it Ray's own runtime in any idle actor, so per frame it falls as the fleet
grows) and the workers' outside decode and inference = (worker process CPU - reader threads' CPU) /
inferred frames. The workers account CPU per thread themselves (``time.thread_time`` on the reader, loop
and Triton client threads), so the split is measured, not estimated; the rest of a worker process is Ray's
runtime (status calls, metrics export) and the garbage collector.
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from loadtest.limits import DecodeLimit, decode_limit, inference_limit
from loadtest.measure import PointRun, measure_point
from loadtest.runner import pipeline_config, simulated_cameras
from loadtest.settings import LIMIT_BATCH, LoadTestSettings
from pipeline.models.designs import get_design
from pipeline.models.export import export_repository
from pipeline.models.model_config import ModelConfig
from pipeline.runtime.services import RunningServices, services

logger = logging.getLogger(__name__)

SATURATE = 1.5
"""The saturated case offers this multiple of the inference-only limit."""
MAX_CAMERA_FPS = 60


@dataclass(frozen=True)
class PipelineBenchRow:
    """One case of the pipeline benchmark."""

    case: str
    cameras: int
    target_fps: float
    offered_fps: float
    aggregate_fps: float
    per_camera_fps: float
    decode_only_fps: float
    inference_only_fps: float
    ratio_to_lower_limit: float
    workers: int
    worker_outside_ms_per_frame: float
    worker_loop_ms_per_frame: float
    worker_transport_ms_per_frame: float
    worker_decode_ms_per_frame: float
    controller_ms_per_frame: float
    controller_cpu_percent: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    skipped_pct: float
    cameras_servable: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _case(
    name: str,
    settings: LoadTestSettings,
    model_config: ModelConfig,
    running: RunningServices,
    *,
    cameras: int,
    motion_gate: bool = False,
    workers: int = 1,
) -> tuple[PointRun, list[Path]]:
    design = settings.designs[0]
    simulator = simulated_cameras(settings, cameras, seconds=10.0)
    with simulator:
        config = pipeline_config(
            settings,
            design,
            simulator.cameras,
            motion_gate=motion_gate,
            cameras_per_worker=math.ceil(cameras / workers),
        )
        run = measure_point(
            config,
            model_config,
            running,
            warmup_s=settings.warmup_s,
            duration_s=settings.duration_s,
            models=list(get_design(design).required_models),
        )
    logger.info("%s: %.1f fps", name, run.point.aggregate_fps)
    return run, [c.clip for c in simulator.cameras]


def _row(
    name: str, run: PointRun, decode: DecodeLimit, inference_fps: float, workers: int = 1
) -> PipelineBenchRow:
    p = run.point
    lower = min(decode.fps, inference_fps)
    cpu = run.worker_cpu
    outside_s = cpu["process"] - cpu["decode"]
    frames = max(run.inferred, 1)
    # The benchmark's own process also serves the simulated cameras, so only the controller counts here.
    steering_s = run.cpu_seconds.get("controller", 0.0)
    # Each camera asks inference for its fps times the share of frames the gate lets through.
    # At least one frame per window: the gate forces one through every max_skip_s, so demand is never 0.
    passed = max(1.0 - run.skipped_motion / max(run.frames_in, 1), 1.0 / max(run.frames_in, 1))
    demand_per_camera = p.target_fps * passed
    return PipelineBenchRow(
        case=name,
        cameras=p.cameras,
        target_fps=p.target_fps,
        offered_fps=p.offered_fps,
        aggregate_fps=p.aggregate_fps,
        per_camera_fps=p.per_camera_fps,
        decode_only_fps=round(decode.fps, 1),
        inference_only_fps=round(inference_fps, 1),
        ratio_to_lower_limit=round(p.aggregate_fps / lower, 3) if lower else 0.0,
        workers=workers,
        worker_outside_ms_per_frame=round(1000 * max(outside_s, 0.0) / frames, 3),
        worker_loop_ms_per_frame=round(1000 * cpu["loop"] / frames, 3),
        worker_transport_ms_per_frame=round(1000 * cpu["transport"] / frames, 3),
        worker_decode_ms_per_frame=round(1000 * cpu["decode"] / frames, 3),
        controller_ms_per_frame=round(1000 * steering_s / max(run.inferred, 1), 4),
        controller_cpu_percent=round(100 * steering_s / run.seconds, 2) if run.seconds else 0.0,
        latency_p50_ms=p.latency_p50_ms,
        latency_p99_ms=p.latency_p99_ms,
        skipped_pct=round(100 * run.skipped_motion / max(run.frames_in, 1), 1),
        cameras_servable=round(inference_fps / demand_per_camera, 1) if demand_per_camera > 0 else 0.0,
    )


def bench_pipeline(
    model_config: ModelConfig,
    *,
    cameras: int = 8,
    fps: float = 10.0,
    resolution: tuple[int, int] = (640, 360),
    design: str = "monolith",
    seconds: float = 8.0,
    warmup_s: float = 2.0,
    motion_gate: bool = True,
    saturate: bool = True,
    scale_workers: tuple[int, ...] = (),
) -> list[PipelineBenchRow]:
    """Measure the pipeline's cases and both limits in one run (see the module docstring)."""
    base = LoadTestSettings(
        out=Path(tempfile.gettempdir()),
        designs=(design,),
        cameras=(cameras,),
        fps=fps,
        resolution=resolution,
        duration_s=seconds,
        warmup_s=warmup_s,
    )
    needed = list(get_design(design).required_models)
    with tempfile.TemporaryDirectory(prefix="camfleet-bench-pipeline-") as scratch:
        repository = Path(scratch) / "repository"
        export_repository(model_config, repository, models=needed)
        with services(pipeline_config(base, design, []), repository=repository) as running:
            paced, clips = _case("paced", base, model_config, running, cameras=cameras)
            decode = decode_limit(clips, model_config.input_size, seconds=min(seconds, 3.0), quick=False)
            inference = inference_limit(
                running.triton,
                design,
                base.mix,
                model_config.input_size,
                batch=LIMIT_BATCH,
                in_flight=4,
                seconds=min(seconds, 2.0),
            )
            rows = [_row("paced", paced, decode, inference)]
            wanted = SATURATE * min(decode.fps, inference)
            if saturate and paced.point.offered_fps < wanted:
                count = max(cameras, math.ceil(wanted / MAX_CAMERA_FPS))
                sat = replace(base, fps=float(min(MAX_CAMERA_FPS, math.ceil(wanted / count))))
                run, _ = _case("saturated", sat, model_config, running, cameras=count)
                rows.append(_row("saturated", run, decode, inference))
                for workers in scale_workers:
                    run, _ = _case("scale-out", sat, model_config, running, cameras=count, workers=workers)
                    rows.append(_row(f"saturated, {workers} worker(s)", run, decode, inference, workers))
            if motion_gate:
                gated, _ = _case(
                    "motion gate", base, model_config, running, cameras=cameras, motion_gate=True
                )
                rows.append(_row("motion gate on", gated, decode, inference))
    return rows
