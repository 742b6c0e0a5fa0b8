"""The sweep: per design, per camera count, the real pipeline and the naive baseline; then the limits.

Per design one Triton (only that design's models), Redis and Ray; per camera count the simulated cameras,
the real pipeline, then the naive baseline on the same cameras.

Random weights are exported once into a temporary repository. A design's sweep stops early once it has
clearly fallen behind (per-camera fps under 0.8 x target, or latency exploding); the counts between the
last point that met the target and the first that missed it are then bisected (``knee_step``).

Triton's python backend can die under deep overload on a small machine. A point during which the server
died is not a measurement of the pipeline: it is dropped, logged with the server's own error, and the
design's services start again to measure it once more; if Triton dies at that count again, the point is
kept and flagged ``server_failed`` (the pipeline did fail there). At most :data:`MAX_TRITON_STARTS` starts
per design.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress

from loadtest.baseline import naive_fps
from loadtest.limits import DecodeLimit, decode_limit, inference_limit
from loadtest.measure import PointRun, measure_point
from loadtest.settings import LIMIT_BATCH, SERVER_BATCHING_IN_FLIGHT, LoadTestSettings
from pipeline.config import BatchingConfig, PipelineConfig
from pipeline.errors import CamfleetError
from pipeline.models.designs import get_design
from pipeline.models.export import export_repository
from pipeline.models.model_config import ModelConfig, load_model_config
from pipeline.planner.cost import assign_conditions
from pipeline.planner.speed import SpeedReference, measure_speed
from pipeline.runtime.services import RunningServices, services
from pipeline.serving.bundled import crash_lines, log_errors
from pipeline.world.simulator import CameraSimulator, SimulatedCamera

logger = logging.getLogger(__name__)

BEHIND = 0.8
CLIP_SECONDS = 10.0
DECODE_CLIPS = 8
_LATENCY_CEILING_MS = 5000.0
LIMIT_IN_FLIGHT = 4
MAX_TRITON_STARTS = 6


@dataclass
class DesignSweep:
    """What one design measured."""

    design: str
    runs: list[PointRun] = field(default_factory=list)
    baseline_fps: dict[int, float] = field(default_factory=dict)
    inference_fps: float = 0.0
    inference_batch1_fps: float = 0.0
    typical_batch: float = 0.0
    skipped: list[int] = field(default_factory=list)
    refined: list[int] = field(default_factory=list)
    swept_up: bool = False
    """The sweep over the configured counts is over (the bisection may still be going)."""
    server_failures: list[tuple[int, str]] = field(default_factory=list)
    """(camera count, Triton's error) for every point during which the server died."""
    speed_readings: list[SpeedReference] = field(default_factory=list)
    """The machine-speed reference timed before and after the sweep (pipeline.planner.speed)."""


@dataclass
class LoadTestOutcome:
    """Everything one run measured, before it becomes a report."""

    settings: LoadTestSettings
    model_config: ModelConfig
    created: str
    decode: DecodeLimit | None = None
    sweeps: list[DesignSweep] = field(default_factory=list)
    wall_s: float = 0.0


def clip_dir(settings: LoadTestSettings) -> Path:
    """Where simulated clips are cached between runs (they depend only on their parameters)."""
    return settings.clip_dir or Path(tempfile.gettempdir()) / "camfleet-loadtest-clips"


def simulated_cameras(settings: LoadTestSettings, count: int, *, seconds: float) -> CameraSimulator:
    """``count`` simulated cameras with the resolution, clip rate and condition mix of ``settings``."""
    return CameraSimulator(
        count,
        clip_dir(settings),
        rtsp=settings.rtsp,
        conditions=assign_conditions(count, settings.mix),
        seconds=seconds,
        size=settings.resolution,
        fps=settings.clip_fps,
    )


def pipeline_config(
    settings: LoadTestSettings,
    design: str,
    cameras: list[SimulatedCamera],
    *,
    motion_gate: bool = False,
    cameras_per_worker: int = 8,
    latency_budget_s: float | None = None,
) -> PipelineConfig:
    """The pipeline config of one point: each camera with its fixed condition, static routing."""
    in_flight = SERVER_BATCHING_IN_FLIGHT if settings.batching == "server" else BatchingConfig().max_in_flight
    return PipelineConfig.model_validate(
        {
            "design": design,
            "cameras": [
                {"id": c.camera_id, "url": c.url, "fps": settings.fps, "condition": c.condition}
                for c in cameras
            ],
            "scheduler": {"policy": {"type": "static"}, "motion": {"enabled": motion_gate}},
            "batching": {
                "max_batch": settings.client_max_batch,
                "max_in_flight": in_flight,
                **({"latency_budget_s": latency_budget_s} if latency_budget_s else {}),
            },
            "triton": {"shared_memory": settings.shared_memory},
            "ray": {"cameras_per_worker": cameras_per_worker},
            "control": {"enabled": False},
        }
    )


def fell_behind(runs: list[PointRun]) -> bool:
    """True once the sweep should stop: a point under 0.8 x target, or exploding latency.

    One overloaded point past the knee is enough: the bisection then measures the knee from below, and
    deeper overload only starves a small machine (on two cores, 32 cameras against a model that serves
    10 crashed Triton's python backend).
    """
    last = runs[-1].point
    if last.latency_p99_ms is not None and last.latency_p99_ms > _LATENCY_CEILING_MS:
        return True
    return last.per_camera_fps < BEHIND * last.target_fps


def mean_batch(batch_sizes: dict[int, int]) -> float:
    """Frames per request of a batcher histogram."""
    requests = sum(batch_sizes.values())
    return sum(size * count for size, count in batch_sizes.items()) / requests if requests else 0.0


def refine_counts(runs: list[PointRun], step: int) -> int | None:
    """The next camera count that narrows the knee's bracket to ``step``, or None when it is narrow enough.

    The bracket is the most cameras that met the target below the fewest that missed it; the next count
    is its midpoint, so a power-of-two sweep becomes a bisection near the knee.
    """
    if step < 1:
        return None
    met = [r.point.cameras for r in runs if r.point.meets_target]
    missed = [r.point.cameras for r in runs if not r.point.meets_target]
    if not met or not missed:
        return None
    low = max(met)
    above = [c for c in missed if c > low]
    if not above:
        return None
    high = min(above)
    if high - low <= step:
        return None
    return (low + high) // 2


def _measure_count(
    settings: LoadTestSettings,
    design: str,
    model_config: ModelConfig,
    running: RunningServices,
    sweep: DesignSweep,
    count: int,
    clips: list[Path],
) -> bool:
    """One point: simulated cameras, the pipeline, then (unless disabled) the naive loop on them.

    Returns False when Triton died during it: the point is dropped, or, if Triton died at this count
    before, kept flagged ``server_failed``.
    """
    models = list(get_design(design).required_models)
    conditions = assign_conditions(count, settings.mix)
    simulator = simulated_cameras(settings, count, seconds=CLIP_SECONDS)
    with simulator:
        config = pipeline_config(settings, design, simulator.cameras)
        run = measure_point(
            config,
            model_config,
            running,
            warmup_s=settings.warmup_s,
            duration_s=settings.duration_s,
            models=models,
        )
        sweep.runs.append(run)
        if settings.baseline_s > 0:
            sweep.baseline_fps[count] = round(
                naive_fps(
                    [c.url for c in simulator.cameras],
                    conditions,
                    design,
                    running.triton_urls[0],
                    model_config.input_size,
                    warmup_s=min(settings.warmup_s, 1.0),
                    duration_s=settings.baseline_s,
                ),
                2,
            )
        clips[:] = list(dict.fromkeys([*clips, *(c.clip for c in simulator.cameras)]))[:DECODE_CLIPS]
    logger.info(
        "%s x%d: %.1f fps (naive %s)",
        design,
        count,
        run.point.aggregate_fps,
        sweep.baseline_fps.get(count, "skipped"),
    )
    death = server_death(running)
    if death is None:
        return True
    sweep.runs.pop()  # what a dead server left of the window is no measurement
    again = any(failed == count for failed, _ in sweep.server_failures)
    sweep.server_failures.append((count, death))
    if again:
        flagged = run.point.model_copy(update={"server_failed": True, "meets_target": False})
        sweep.runs.append(dataclasses.replace(run, point=flagged))
    logger.error(
        "%s x%d: Triton died during the point (%s); %s",
        design,
        count,
        death,
        "it died at this count before: the point is kept, flagged" if again else "it is measured again",
    )
    return False


def server_death(running: RunningServices) -> str | None:
    """Why the embedded Triton is no longer running (how its log says it died), or None while it runs."""
    server = running.triton_server
    if server is None or server.running:
        return None
    reason = crash_lines(server.log_path) or log_errors(server.log_path)[-1:]
    return f"{'; '.join(dict.fromkeys(reason)) or 'tritonserver exited'} (log: {server.log_path})"


def _time_speed(sweep: DesignSweep) -> None:
    """Time the machine-speed reference for ``sweep`` (the planner's validation scales by it)."""
    try:
        sweep.speed_readings.append(measure_speed())
    except CamfleetError as exc:  # the sweep stands without it; validation then predicts unscaled
        logger.warning("%s: %s", sweep.design, exc)


def _sweep_design(
    settings: LoadTestSettings,
    design: str,
    model_config: ModelConfig,
    running: RunningServices,
    sweep: DesignSweep,
    progress: Progress,
    task: Any,
    clips: list[Path],
) -> bool:
    """Go on with ``sweep`` on ``running``; False when Triton died (start the services, then call again)."""
    size = model_config.input_size
    if not sweep.runs and not sweep.speed_readings:
        _time_speed(sweep)
    if not sweep.swept_up:
        measured = {r.point.cameras for r in sweep.runs}
        for index, count in enumerate(settings.cameras):
            if count in measured:
                continue
            progress.update(task, description=f"{design}: {count} camera(s)")
            if not _measure_count(settings, design, model_config, running, sweep, count, clips):
                if sweep.runs and sweep.runs[-1].point.server_failed:
                    progress.advance(task)
                    sweep.skipped = list(settings.cameras[index + 1 :])
                    progress.advance(task, len(sweep.skipped))
                    sweep.swept_up = True
                return False
            progress.advance(task)
            if fell_behind(sweep.runs):
                sweep.skipped = list(settings.cameras[index + 1 :])
                progress.advance(task, len(sweep.skipped))
                break
        sweep.swept_up = True
    while (between := refine_counts(sweep.runs, settings.knee_step)) is not None:
        progress.update(task, description=f"{design}: {between} camera(s), refining the knee")
        alive = _measure_count(settings, design, model_config, running, sweep, between, clips)
        if alive or sweep.runs[-1].point.server_failed:
            sweep.refined.append(between)
        if not alive:
            return False
    sweep.runs.sort(key=lambda r: r.point.cameras)
    _time_speed(sweep)
    progress.update(task, description=f"{design}: inference-only limit")
    sweep.typical_batch = round(mean_batch(sweep.runs[-1].batch_sizes), 2) if sweep.runs else 0.0
    try:
        limits = [
            inference_limit(
                running.triton,
                design,
                settings.mix,
                size,
                batch=batch,
                in_flight=LIMIT_IN_FLIGHT,
                seconds=settings.limit_s,
            )
            for batch in (LIMIT_BATCH, 1)
        ]
        sweep.inference_fps, sweep.inference_batch1_fps = (round(fps, 1) for fps in limits)
    except CamfleetError as exc:
        # The sweep's points stand without the limit; a server that died under overload is in the log.
        logger.error("%s: inference-only limit not measured: %s", design, exc)
    return True


def run_loadtest(settings: LoadTestSettings, *, show_progress: bool = True) -> LoadTestOutcome:
    """Run every design's sweep, the naive baseline and the limits; return the raw outcome."""
    started = time.monotonic()
    model_config = load_model_config(settings.model_config)
    outcome = LoadTestOutcome(settings, model_config, dt.datetime.now(dt.timezone.utc).isoformat())
    needed = sorted({m for d in settings.designs for m in get_design(d).required_models})
    clips: list[Path] = []
    with (
        tempfile.TemporaryDirectory(prefix="camfleet-loadtest-") as scratch,
        Progress(disable=not show_progress, transient=False) as progress,
    ):
        repository = Path(scratch) / "repository"
        export_repository(model_config, repository, models=needed)
        task = progress.add_task("load test", total=len(settings.designs) * len(settings.cameras))
        for design in settings.designs:
            sweep = DesignSweep(design)
            outcome.sweeps.append(sweep)
            for _ in range(MAX_TRITON_STARTS):
                progress.update(task, description=f"{design}: starting Triton")
                with services(pipeline_config(settings, design, []), repository=repository) as running:
                    done = _sweep_design(
                        settings, design, model_config, running, sweep, progress, task, clips
                    )
                    if outcome.decode is None and clips and done:
                        progress.update(task, description="decode-only limit")
                        outcome.decode = decode_limit(
                            clips, model_config.input_size, seconds=settings.limit_s * 2, quick=settings.quick
                        )
                if done:
                    break
            else:
                sweep.runs.sort(key=lambda r: r.point.cameras)
                logger.error(
                    "%s: Triton died %d times; the sweep ends with the points measured so far",
                    design,
                    len(sweep.server_failures),
                )
    outcome.wall_s = round(time.monotonic() - started, 1)
    return outcome
