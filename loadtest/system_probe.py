"""The pipeline around the model, measured with no model: ``camfleet plan calibrate``'s system probe.

Every python model of a design is served by :class:`pipeline.serving.python_model.NullDetector`, which
computes nothing; the real fleet (camera workers decoding live TCP cameras, batching, Triton over shared
memory, ByteTrack, Redis events) then runs for a short window. What the workers, Triton and the rest of
the machine spend per frame, per request and per ensemble step is everything except inference, and none
of it depends on a model config. Two designs are run: the monolith (one step per request, every row a
tracked detection) and the shared trunk with group heads (five steps, no detection). Their server CPU per
request differs by four steps; their worker loop per frame by the tracking and events of K detections.
The group design may run again at more cameras: the rest of the machine is then read at three frame
rates, far enough apart to split it into fixed cores and a cost per frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadtest.measure import PointRun, measure_point
from loadtest.runner import pipeline_config, simulated_cameras
from loadtest.settings import LoadTestSettings
from pipeline.models.designs import ENSEMBLES, MERGE_MODEL, get_design
from pipeline.models.model_config import ModelConfig
from pipeline.runtime.services import RunningServices, services
from pipeline.serving.repository import CONFIG_FILE, SHIM_FILE, VERSION, write_model_files

logger = logging.getLogger(__name__)

PROBE_DESIGNS = ("monolith", "shared-groups")
_NULL_SHIM = (
    '"""camfleet plan calibrate: a model that computes nothing (NullDetector)."""\n\n'
    "from pipeline.serving.python_model import NullDetector as TritonPythonModel\n\n"
    '__all__ = ["TritonPythonModel"]\n'
)


@dataclass(frozen=True)
class PipelineProbe:
    """What one design's null run measured, per frame or per request, in core-seconds."""

    design: str
    steps: int
    frames: int
    requests: int
    decode_s_per_frame: float
    loop_s_per_frame: float
    client_s_per_request: float
    triton_s_per_request: float
    detections_per_frame: int
    fps: float
    """Frames inferred per second in the window."""
    rest_cores: float
    """Cores the machine used outside the workers and Triton."""
    worker_other_cores: float
    """Cores the camera worker processes used beside their reader, loop and client threads."""
    null_execution_s: float
    """Triton's compute time of one execution of the first null model (a model that computes nothing)."""


def null_repository(config: ModelConfig, target: Path, designs: tuple[str, ...] = PROBE_DESIGNS) -> Path:
    """A model repository whose python models are null models with the I/O of ``config``'s.

    The monolith's null model keeps every row as a detection; every other one keeps none.
    """
    names = sorted({m for d in designs for m in get_design(d).required_models})
    for name in names:
        folder = write_model_files(name, config, target)
        if name in ENSEMBLES or name == MERGE_MODEL:
            continue
        (folder / SHIM_FILE).write_text(_NULL_SHIM)
        kept = config.head.max_detections if name == "monolith" else 0
        with (folder / CONFIG_FILE).open("a") as pbtxt:
            pbtxt.write(
                f'parameters {{\n  key: "null_detections"\n  value: {{ string_value: "{kept}" }}\n}}\n'
            )
        # The server checks that exported weights exist; the null model never reads them.
        (folder / VERSION / "model.pt").write_bytes(b"")
    return target


def _probe(run: PointRun, design: str, steps: int, detections: int) -> PipelineProbe:
    requests = sum(run.batch_sizes.values()) or 1
    frames = max(run.inferred, 1)
    cpu = run.cpu_seconds
    machine = cpu.get("machine", 0.0)
    workers, triton = cpu.get("camera_workers", 0.0), cpu.get("triton", 0.0)
    threads = sum(run.worker_cpu.get(k, 0.0) for k in ("decode", "loop", "transport"))
    window = max(run.seconds, 1e-9)
    first = get_design(design).required_models[0]
    stats = next((m for m in run.point.models if m.model == first), None)
    execution_s = (
        stats.mean_compute_ms * stats.requests / stats.executions / 1e3
        if stats is not None and stats.executions
        else 0.0
    )
    return PipelineProbe(
        design=design,
        steps=steps,
        frames=run.inferred,
        requests=requests,
        decode_s_per_frame=run.worker_cpu.get("decode", 0.0) / max(run.decoded, 1),
        loop_s_per_frame=run.worker_cpu.get("loop", 0.0) / frames,
        client_s_per_request=run.worker_cpu.get("transport", 0.0) / requests,
        triton_s_per_request=triton / requests,
        detections_per_frame=detections,
        fps=run.inferred / window,
        rest_cores=max(machine - workers - triton, 0.0) / window,
        worker_other_cores=max(run.worker_cpu.get("process", workers) - threads, 0.0) / window,
        null_execution_s=execution_s,
    )


def probe_pipeline(
    config: ModelConfig,
    scratch: Path,
    *,
    cameras: tuple[int, ...] = (4, 8),
    seconds: float = 4.0,
    warmup_s: float = 2.0,
    rounds: int = 1,
    serving: Callable[[Path], list[str]] | None = None,
    with_server: Callable[[RunningServices], None] | None = None,
) -> list[PipelineProbe]:
    """Run each of :data:`PROBE_DESIGNS` on null models, with its count of ``cameras`` (640x360, 10 fps).

    The runs differ in frame rate as well as in steps and detections, so the costs outside the workers
    and Triton split into a fixed part and a part per frame. Counts beyond the designs' run the last
    design again (a spread of frame rates for that split). The whole sequence runs ``rounds`` times on
    the same services (a median over rounds is robust to a burst of other work on a shared machine).
    Returns one probe per count and round, round after round.

    One Triton, Redis and Ray serve both runs (the monolith's null model is loaded beside the ensemble's);
    the cameras' clips are the load tester's cached ones. ``serving`` may export more models into the
    repository before the server starts (it returns their names, which are loaded too), and
    ``with_server`` is called with the running services before the fleets run.
    """
    repository = null_repository(config, scratch / "null_repository")
    extra = serving(repository) if serving is not None else []
    settings = LoadTestSettings(out=scratch, duration_s=seconds, warmup_s=warmup_s)
    grouped = PROBE_DESIGNS[-1]
    probes = []
    with services(pipeline_config(settings, grouped, []), repository=repository) as running:
        if running.triton_server is not None:
            for model in [*get_design("monolith").required_models, *extra]:
                running.triton_server.load_model(model)
        if with_server is not None:
            with_server(running)
        if len(cameras) < len(PROBE_DESIGNS):
            raise ValueError(f"need a camera count for each of {PROBE_DESIGNS}, got {cameras}")
        designs = [*PROBE_DESIGNS, *[grouped] * (len(cameras) - len(PROBE_DESIGNS))]
        for design, count in [pair for _ in range(rounds) for pair in zip(designs, cameras, strict=True)]:
            models = list(get_design(design).required_models)
            with simulated_cameras(settings, count, seconds=10.0) as simulator:
                pipeline = pipeline_config(settings, design, simulator.cameras)
                run = measure_point(
                    pipeline, config, running, warmup_s=warmup_s, duration_s=seconds, models=models
                )
            kept = config.head.max_detections if design == "monolith" else 0
            probes.append(_probe(run, design, _steps(design), kept))
            logger.info("null %s: %s", design, probes[-1])
    return probes


def _steps(design: str) -> int:
    """Model executions per request of ``design``'s first served model (an ensemble counts each step)."""
    spec = ENSEMBLES.get(get_design(design).served_models[0])
    if spec is None:
        return 1
    return len(spec.parallel) + (1 if spec.trunk else 0) + (1 if spec.merges else 0)
