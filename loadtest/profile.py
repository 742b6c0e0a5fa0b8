"""``camfleet bench profile``: where a camera worker's CPU goes, per inferred frame.

A paced fleet with one camera worker runs on the embedded Triton and Redis. Two views of the same span:

- **Threads** (exact): the worker accounts CPU per thread itself (``time.thread_time`` on its reader
  threads, its loop thread and its Triton client threads); the rest of the process is Ray's runtime (status
  calls, metrics export), the garbage collector and other native threads.
- **Stages** (sampled): ``py-spy --gil`` samples whichever thread holds the GIL, i.e. the Python work, and
  each stack is charged to the first stage it matches, reading from the innermost frame outwards (decode,
  inference transport, routing, batching, tracking and events, the Redis sink, Ray, other). Waiting threads
  never hold the GIL, so idle time is not counted; native work that releases the GIL (H.264 decode, gRPC's
  core) is in the thread view only.

CPU per inferred frame = CPU seconds / frames inferred in the span. The issue's figure is the worker's CPU
outside decode (the worker runs no inference itself). ``py-spy`` is a dev dependency; it needs ptrace rights
on the worker (root, or the same user with ptrace allowed).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from loadtest.runner import pipeline_config, simulated_cameras
from loadtest.settings import LoadTestSettings
from pipeline.errors import CamfleetError
from pipeline.models.designs import get_design
from pipeline.models.export import export_repository
from pipeline.models.model_config import ModelConfig
from pipeline.runtime.fleet import start_fleet
from pipeline.runtime.services import services

logger = logging.getLogger(__name__)

SAMPLE_RATE = 200
"""py-spy samples per second."""

STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("decode", ("av/container", "av/codec", "av/video", "reformat", "ingest/source.py", "ingest/group.py")),
    ("inference transport", ("tritonclient", "grpc", "serving/client.py", "serving/pool.py", "shm_pool.py")),
    ("routing", ("worker/router.py", "scheduler/", "frame_stats", "motion")),
    ("batching", ("batching/batcher.py",)),
    ("tracking and events", ("worker/event_stage.py", "supervision", "events/tracker", "events/builder")),
    ("redis sink", ("events/sink.py", "redis/")),
    ("ray", ("ray/", "worker/metrics.py", "_raylet", "worker/actor.py")),
)
"""Stage -> substrings of a frame's file or function; the first stage any frame of a stack matches wins,
reading stacks from the innermost frame outwards."""


@dataclass(frozen=True)
class StageCost:
    """One stage's CPU in the sampled span."""

    stage: str
    samples: int
    cpu_s: float
    ms_per_frame: float


@dataclass(frozen=True)
class WorkerProfile:
    """The profile of one worker over one span."""

    design: str
    cameras: int
    fps: float
    seconds: float
    frames_inferred: int
    threads_ms_per_frame: dict[str, float]
    """CPU per inferred frame by thread role: decode, loop, transport, rest of the process."""
    stages: list[StageCost]
    """Python (GIL-holding) CPU by stage, sampled."""

    @property
    def outside_decode_ms_per_frame(self) -> float:
        """The worker process's CPU per inferred frame, its reader threads' left out."""
        return sum(ms for role, ms in self.threads_ms_per_frame.items() if role != "decode")


def classify(stack: str) -> str:
    """The stage of one collapsed stack (``frame;frame;...``, outermost first)."""
    frames = stack.split(";")
    for frame in reversed(frames):
        for stage, needles in STAGES:
            if any(needle in frame for needle in needles):
                return stage
    return "other"


def stage_samples(collapsed: str) -> Counter[str]:
    """Samples per stage of py-spy's ``--format raw`` output (one ``stack count`` per line)."""
    totals: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            totals[classify(stack)] += int(count)
    return totals


def _py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when it is not on PATH
    binary = str(beside) if beside.is_file() else shutil.which("py-spy")
    if binary is None:
        raise CamfleetError("py-spy is not installed: pip install -e '.[dev]' (it is a dev dependency)")
    return binary


def profile_worker(
    model_config: ModelConfig,
    *,
    design: str = "monolith",
    cameras: int = 8,
    fps: float = 10.0,
    seconds: float = 20.0,
    warmup_s: float = 5.0,
    stacks_out: Path | None = None,
) -> WorkerProfile:
    """Run the paced fleet and sample its one worker for ``seconds`` (see the module docstring).

    ``stacks_out`` keeps py-spy's collapsed stacks (load them into speedscope or flamegraph.pl).
    """
    py_spy = _py_spy()
    settings = LoadTestSettings(
        out=Path(tempfile.gettempdir()), designs=(design,), cameras=(cameras,), fps=fps
    )
    needed = list(get_design(design).required_models)
    with tempfile.TemporaryDirectory(prefix="camfleet-profile-") as scratch:
        repository = Path(scratch) / "repository"
        export_repository(model_config, repository, models=needed)
        simulator = simulated_cameras(settings, cameras, seconds=10.0)
        with services(pipeline_config(settings, design, []), repository=repository) as running, simulator:
            config = pipeline_config(settings, design, simulator.cameras, cameras_per_worker=cameras)
            fleet = start_fleet(
                config,
                input_size=model_config.input_size,
                triton_urls=running.triton_urls,
                redis_url=running.redis_url,
            )
            try:
                time.sleep(warmup_s)
                status = fleet.refresh()
                workers = status.live_workers()
                if len(workers) != 1:
                    raise CamfleetError(f"expected one camera worker, found {len(workers)}")
                before = workers[0]
                out = Path(scratch) / "worker.txt"
                command = [
                    py_spy, "record", "--pid", str(before.pid), "--duration", str(int(seconds)), "--gil",
                    "--rate", str(SAMPLE_RATE), "--format", "raw", "--output", str(out), "--nonblocking",
                ]  # fmt: skip
                started = time.monotonic()
                subprocess.run(command, check=True, capture_output=True, timeout=seconds + 60)
                elapsed = time.monotonic() - started
                after = fleet.refresh().live_workers()[0]
                collapsed = out.read_text()
                if stacks_out is not None:
                    stacks_out.write_text(collapsed)
            finally:
                fleet.stop()
    frames = max(
        sum(c.frames_inferred for c in after.cameras) - sum(c.frames_inferred for c in before.cameras), 1
    )

    def per_frame(seconds_cpu: float) -> float:
        return round(1000 * seconds_cpu / frames, 3)

    roles = {
        "decode": after.decode_cpu_s - before.decode_cpu_s,
        "loop": after.loop_cpu_s - before.loop_cpu_s,
        "transport": after.transport_cpu_s - before.transport_cpu_s,
    }
    roles["rest of the process"] = after.cpu_seconds - before.cpu_seconds - sum(roles.values())
    totals = stage_samples(collapsed)
    stages = [
        StageCost(stage, count, count / SAMPLE_RATE, per_frame(count / SAMPLE_RATE))
        for stage, count in totals.most_common()
    ]
    threads = {role: per_frame(cpu) for role, cpu in roles.items()}
    return WorkerProfile(design, cameras, fps, round(elapsed, 1), frames, threads, stages)
