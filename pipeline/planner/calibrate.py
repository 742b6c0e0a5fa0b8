"""``camfleet plan calibrate``: measure this machine with probes that never run the models under prediction.

Steps (under two minutes on two cores):

1. **operators**: sampled convolutions, element-wise layers and box decoders at batches 1, 4 and 16 give
   one cost line per operator kind (:mod:`pipeline.planner.operators`); scripted probe networks give the
   fixed cost of a model call and a hold-out check of the composition.
2. **cores**: how many cores' worth of work the machine does at once.
3. **decode**: PyAV decode and resize per frame, at 360p and 720p, on one core.
4. **pipeline**: the real fleet on null models (:mod:`loadtest.system_probe`) at 20, 80 and 320 fps:
   decode in a worker, the worker loop per frame and per tracked detection, and the Triton client per
   request (at the busiest run, as where designs saturate), Triton's server per request and per
   ensemble step, the rest of the machine (fixed cores and per frame, over the three frame rates). The
   same Triton serves sampled probe networks (:mod:`.serving_probe`): their compute time per execution
   against the operator model's prediction gives the serving line (fixed hand-off, scale of the
   layers). Before the runs, the hand-off probe (:mod:`.handoff_probe`) reads Triton's CPU per megabyte
   of frames and of features between steps.

The decode and pipeline probes run ``repeats`` rounds: decode keeps each resolution's median, each null
run of the pipeline and each serving probe its figures' medians, from which the costs are split once. On a
shared VM one round can catch a burst of other work: two single-round calibrations of one machine 90
minutes apart differed by 3.6x in the idle cores of the rest of the stack and by 25% in Triton's CPU a
request.

Before the first step and after the last, the machine-speed reference (:mod:`.speed`) is timed; the
profile keeps their mean, so a load test that times the same reference can be predicted at its speed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from rich.progress import Progress

from pipeline.errors import ConfigError
from pipeline.models.model_config import ModelConfig
from pipeline.planner import operators, probes
from pipeline.planner.handoff_probe import HandoffCosts, measure_handoff, request_megabytes
from pipeline.planner.hardware import HardwareProfile
from pipeline.planner.speed import SpeedReference, measure_speed

if TYPE_CHECKING:
    from loadtest.system_probe import PipelineProbe

logger = logging.getLogger(__name__)

STEPS = ("operators", "cores", "decode", "pipeline")
PROBE_RESOLUTION = (640, 360)
PIPELINE_CAMERAS = (2, 8, 32)
"""Cameras of the null runs: the monolith at 2, shared-groups at 8 and 32 (20, 80 and 320 fps).

The last run is as busy as the load tests' saturated condition designs (250-450 fps on two cores): a
worker's CPU per frame falls as it gets busier (decode 2.0 ms a frame at 80 fps, 1.6 at 320-480; the
rest of the stack nearly flat past 80 fps), and a planner charging the 80 fps figures under-predicted
those designs by 14-20%."""
DEFAULT_REPEATS = 1
"""One round: under two minutes on two cores (108-114 s on 2026-12-08); ``--repeats 3`` took 207-226 s."""


def serving_threads(cores: int) -> int:
    """Torch threads one Triton CPU instance gets on ``cores`` cores with a typical camera load."""
    from pipeline.serving.cpu_plan import plan_cpu

    return plan_cpu([10.0] * 8, cores=cores).torch_threads


def calibrate(
    *,
    quick: bool = False,
    threads: int | None = None,
    skip_pipeline: bool = False,
    device_name: str | None = None,
    show_progress: bool = True,
    repeats: int = DEFAULT_REPEATS,
) -> HardwareProfile:
    """Run every calibration step (see the module docstring) and return the hardware profile.

    Args:
        quick: Fewer probes and a shorter pipeline window (about half the time; less accurate).
        threads: Torch threads of the operator probes; default: what one Triton instance gets here.
        skip_pipeline: Keep the default pipeline figures instead of running the fleet on null models.
        device_name: ``cpu`` or ``cuda``; default: ``cuda`` when available.
        show_progress: Show a progress bar.
        repeats: Rounds of the decode and pipeline probes; their figures are medians over the rounds.
    """
    if repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {repeats}")
    started = time.monotonic()
    device = torch.device(device_name or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = device.type == "cuda"
    if gpu:
        logger.warning("operator probes run on the CPU; CUDA operator probes are not built yet")
    cores = os.cpu_count() or 1
    threads = threads or serving_threads(cores)
    steps = [s for s in STEPS if not (skip_pipeline and s == "pipeline")]
    figures: dict[str, Any] = {}
    speed_before = measure_speed()
    with (
        tempfile.TemporaryDirectory(prefix="camfleet-calibrate-") as scratch,
        Progress(disable=not show_progress, transient=True) as progress,
    ):
        task = progress.add_task("calibrate", total=len(steps))
        for step in steps:
            progress.update(task, description=f"calibrate: {step}")
            step_start = time.monotonic()
            figures.update(_run_step(step, cores, threads, Path(scratch), quick, repeats, figures))
            logger.info("calibrate %s: %.1f s", step, time.monotonic() - step_start)
            progress.advance(task)
    name = torch.cuda.get_device_name(device) if gpu else f"cpu ({cores} cores)"
    figures["speed"] = SpeedReference.mean([speed_before, measure_speed()])
    return HardwareProfile(
        device=name,
        device_kind="cuda" if gpu else "cpu",
        cores=cores,
        threads=threads,
        calibration_s=round(time.monotonic() - started, 1),
        notes=f"camfleet plan calibrate --repeats {repeats}{' --quick' if quick else ''}",
        **figures,
    )


def _run_step(
    step: str, cores: int, threads: int, scratch: Path, quick: bool, repeats: int, so_far: dict[str, Any]
) -> dict[str, Any]:
    if step == "operators":
        samples = operators.measure_operators(
            threads=threads, batches=(1, 4, 16), per_kind=12 if quick else 16, reps=3 if quick else 5
        )
        model = operators.fit_operator_model(samples, threads=threads)
        model = operators.measure_call_cost(model, threads=threads, nets=3 if quick else 5, reps=5)
        return {"operators": model}
    if step == "cores":
        return {"usable_cores": probes.measure_usable_cores(cores, seconds=0.5)}
    if step == "decode":
        rounds = [
            probes.measure_decode(
                scratch, ((640, 360), (1280, 720)), input_size=160, seconds=1.0 if quick else 2.0
            )
            for _ in range(repeats)
        ]
        points = [
            same[0].model_copy(update={"fps_per_core": statistics.median(p.fps_per_core for p in same)})
            for same in zip(*rounds, strict=True)
        ]
        return {"decode": points}
    return _pipeline_figures(scratch, quick, repeats, so_far)


def _pipeline_figures(scratch: Path, quick: bool, repeats: int, so_far: dict[str, Any]) -> dict[str, Any]:
    from loadtest.resources import with_children
    from loadtest.system_probe import probe_pipeline
    from pipeline.planner.serving_probe import ServingProbe, fit_serving

    config = ModelConfig()  # only its tensor shapes reach the null models
    samples: list[tuple[float, float]] = []
    holder: list[ServingProbe] = []
    handoffs: list[HandoffCosts] = []

    def export(repository: Path) -> list[str]:
        holder.append(ServingProbe.export(repository, nets=3))
        return holder[0].names

    def measure(running: Any) -> None:
        samples.extend(
            holder[0].measure(running.triton, so_far["operators"], batches=(1, 2, 4, 8), rounds=repeats)
        )
        if running.triton_server is not None:
            pids = with_children(running.triton_server.pid)
            handoffs.append(measure_handoff(running.triton, pids, config=config, rounds=repeats + 2))

    # 20, 80 and 320 fps, 5 s each: the split of the rest into fixed and per-frame needs that spread (a
    # line through 20 and 80 fps alone read 0.9 ms a frame where load tests at 300-440 fps showed 0.3).
    runs = probe_pipeline(
        config,
        scratch,
        cameras=PIPELINE_CAMERAS,
        seconds=3.0 if quick else 5.0,
        rounds=repeats,
        serving=export,
        with_server=measure,
    )
    bare_decode = HardwareProfile(decode=so_far["decode"]).decode_s(*PROBE_RESOLUTION)
    # The median run of each camera count, field by field, then the figures from those three: medians of
    # the fitted figures instead would pair one round's fixed cores with another's cost per frame.
    count = len(PIPELINE_CAMERAS)
    single, grouped, loaded = (median_probe(runs[i::count]) for i in range(count))
    handoff = handoffs[0] if handoffs else None
    figures = _pipeline_split(single, grouped, loaded, bare_decode, handoff=handoff, config=config)
    features = {"triton_feature_cpu_s_per_mb": handoff.feature_s_per_mb if handoff else None}
    return {**figures, **features, **fit_serving(samples, figures["serving_fixed_s"])}


def median_probe(runs: list[PipelineProbe]) -> PipelineProbe:
    """One null run whose every measured figure is the median of ``runs`` (rounds of one camera count).

    The spread of each figure over the rounds is logged: it says how steady the machine was.
    """
    first = runs[0]
    medians: dict[str, Any] = {}
    for field in dataclasses.fields(first):
        values = [getattr(run, field.name) for run in runs]
        if isinstance(values[0], float):
            medians[field.name] = statistics.median(values)
            if len(runs) > 1:
                logger.info(
                    "null %s at %.0f fps, %s over %d rounds: min %.4g, max %.4g",
                    first.design, first.fps, field.name, len(runs), min(values), max(values),
                )  # fmt: skip
    return dataclasses.replace(first, **medians)


def _pipeline_split(
    single: PipelineProbe,
    grouped: PipelineProbe,
    loaded: PipelineProbe,
    bare_decode: float,
    *,
    handoff: HandoffCosts | None = None,
    config: ModelConfig | None = None,
) -> dict[str, float]:
    """The pipeline figures from the null runs: the monolith, shared-groups, and shared-groups loaded.

    With ``handoff`` (the probe of Triton's CPU per megabyte moved), what the null runs' requests moved
    at ``config``'s shapes is taken out of their server CPU per request, which the planner charges apart
    from the megabytes a design moves.
    """
    config = config or ModelConfig()
    request_s = [single.triton_s_per_request, grouped.triton_s_per_request]
    if handoff is not None:
        for index, run in enumerate((single, grouped)):
            moved = request_megabytes(run.design, config, run.frames / max(run.requests, 1))
            request_s[index] = max(request_s[index] - handoff.seconds(moved), 0.0)
    extra_steps = grouped.steps - single.steps
    # The two runs' server CPU per request differs by the extra steps; their loop CPU per frame by the
    # detections the monolith's null model keeps and the group heads' do not.
    step_s = max((request_s[1] - request_s[0]) / extra_steps, 0.0)
    extra_detections = single.detections_per_frame - grouped.detections_per_frame
    per_detection = (single.loop_s_per_frame - grouped.loop_s_per_frame) / extra_detections
    # A worker's decode and loop per frame, and its client per request, at the busiest run: where
    # designs saturate, and so what sets their capacity (each costs less per frame as workers get busier).
    decode, loop = loaded.decode_s_per_frame, loaded.loop_s_per_frame
    # The runs differ in frame rate: the rest of the machine and the workers' other threads split into a
    # fixed part (cores) and a part per frame.
    rest_fixed, rest_per_frame = _fixed_and_per_frame(
        (single.fps, single.rest_cores), (grouped.fps, grouped.rest_cores), (loaded.fps, loaded.rest_cores)
    )
    worker_fixed, worker_per_frame = _fixed_and_per_frame(
        (single.fps, single.worker_other_cores), (grouped.fps, grouped.worker_other_cores)
    )
    return {
        "decode_in_worker": max(decode / bare_decode, 0.1) if bare_decode else 1.0,
        "worker_fixed_cores": worker_fixed,
        "worker_frame_cpu_s": loop + worker_per_frame,
        "worker_detection_cpu_s": max(per_detection, 0.0),
        "client_request_cpu_s": loaded.client_s_per_request,
        "triton_request_cpu_s": request_s[0],
        "triton_step_cpu_s": step_s,
        "triton_cpu_s_per_mb": handoff.frame_s_per_mb if handoff else 0.0,
        "other_frame_cpu_s": rest_per_frame,
        "other_fixed_cores": rest_fixed,
        "serving_fixed_s": single.null_execution_s,
    }


def _fixed_and_per_frame(*readings: tuple[float, float]) -> tuple[float, float]:
    """(fixed cores, core-seconds per frame) of the least-squares line through (fps, cores) readings.

    Both are kept >= 0; readings at (nearly) one frame rate cannot split, so everything is per frame.
    """
    fps = np.array([r[0] for r in readings], dtype=float)
    cores = np.array([r[1] for r in readings], dtype=float)
    if fps.max() - fps.min() < 1.0:
        return 0.0, max(float(cores.sum()), 0.0) / max(float(fps.sum()), 1e-9)
    per_frame, fixed = np.polyfit(fps, cores, 1)
    if per_frame < 0:
        return max(float(cores.mean()), 0.0), 0.0
    if fixed < 0:  # through the origin instead
        return 0.0, float(fps @ cores / (fps @ fps))
    return float(fixed), float(per_frame)
