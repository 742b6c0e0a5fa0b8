"""Measurements of the serving stack around the model: decode, Triton requests, Ray calls, driver work.

Each probe runs the real component (PyAV on a synthetic H.264 clip, the bundled Triton with a no-op
python-backend model, a local Ray actor) and returns the figures a :class:`HardwareProfile` stores.
"""

from __future__ import annotations

import functools
import logging
import statistics
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.planner.hardware import MB, DecodePoint

logger = logging.getLogger(__name__)

_NOOP_K = 32
_DECODE_WARMUP_FRAMES = 5
_NOOP_CONFIG = f"""\
name: "noop"
backend: "python"
max_batch_size: 64
input [ {{ name: "IMAGES" data_type: TYPE_UINT8 dims: [ -1, -1, 3 ] }} ]
output [ {{ name: "DETECTIONS" data_type: TYPE_FP32 dims: [ {_NOOP_K}, 6 ] }} ]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
"""
_NOOP_MODEL = f"""\
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            batch = pb_utils.get_input_tensor_by_name(request, "IMAGES").as_numpy().shape[0]
            out = pb_utils.Tensor("DETECTIONS", np.zeros((batch, {_NOOP_K}, 6), np.float32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
"""


def median_s(call: Callable[[], object], *, reps: int, warmup: int = 1) -> float:
    """Median wall time of ``call`` over ``reps`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fit_line(sizes: Sequence[float], seconds: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``seconds = fixed + per_unit * size``, both clipped at 0."""
    slope, intercept = np.polyfit(np.asarray(sizes, float), np.asarray(seconds, float), 1)
    return max(float(intercept), 0.0), max(float(slope), 0.0)


def measure_decode(
    scratch: Path, resolutions: Sequence[tuple[int, int]], *, input_size: int, seconds: float
) -> list[DecodePoint]:
    """Decode (one thread) and resize to ``input_size`` a synthetic H.264 clip per resolution."""
    import av
    from av.video.reformatter import VideoReformatter

    from pipeline.ingest.clips import write_test_clip

    points = []
    for width, height in resolutions:
        clip = write_test_clip(
            scratch / f"decode_{width}x{height}.mp4", seconds=seconds, size=(width, height)
        )
        reformatter = VideoReformatter()
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            stream.thread_count = 1
            start, frames = time.perf_counter(), 0
            for index, frame in enumerate(container.decode(stream)):
                rgb = reformatter.reformat(frame, input_size, input_size, format="rgb24")
                np.asarray(rgb.to_ndarray(), dtype=np.uint8)
                if index == _DECODE_WARMUP_FRAMES - 1:
                    # The decoder's first frames pay its set-up; a camera decodes for hours.
                    start, frames = time.perf_counter(), 0
                else:
                    frames += 1
            elapsed = time.perf_counter() - start
        points.append(DecodePoint(width=width, height=height, fps_per_core=frames / elapsed))
        logger.debug("decode %dx%d: %.0f fps/core", width, height, frames / elapsed)
    return points


def measure_triton(scratch: Path, *, input_size: int, reps: int) -> dict[str, float]:
    """Request overhead of the bundled Triton with a no-op model: fixed, per MB (gRPC, shm), execution.

    Batches of 1, 8 and 32 frames at ``input_size`` are sent; the no-op model's own server-side time per
    execution (Triton's statistics) is the python backend's cost of one model step.
    """
    from pipeline.serving.client import TritonClient
    from pipeline.serving.launcher import TritonServer

    repository = scratch / "noop_repository"
    (repository / "noop" / "1").mkdir(parents=True)
    (repository / "noop" / "config.pbtxt").write_text(_NOOP_CONFIG)
    (repository / "noop" / "1" / "model.py").write_text(textwrap.dedent(_NOOP_MODEL))
    rng = np.random.default_rng(0)
    sizes, grpc_s, shm_s = [], [], []
    with TritonServer(
        repository, models=["noop"], run_dir=scratch / "triton_run", startup_timeout_s=90
    ) as server:
        with (
            TritonClient(server.grpc_url, use_shared_memory=False) as grpc,
            TritonClient(server.grpc_url, use_shared_memory=True) as shm,
        ):
            grpc.infer("noop", rng.integers(0, 256, (1, input_size, input_size, 3), dtype=np.uint8))
            before = grpc.statistics("noop")
            for batch in (1, 8, 32):
                frames = rng.integers(0, 256, (batch, input_size, input_size, 3), dtype=np.uint8)
                sizes.append((frames.nbytes + batch * _NOOP_K * 24) / MB)
                grpc_s.append(median_s(functools.partial(grpc.infer, "noop", frames), reps=reps, warmup=2))
                shm_s.append(median_s(functools.partial(shm.infer, "noop", frames), reps=reps, warmup=2))
            stats = grpc.statistics("noop")
    grpc_fixed, grpc_per_mb = fit_line(sizes, grpc_s)
    shm_fixed, shm_per_mb = fit_line(sizes, shm_s)
    executions = max(stats.execution_count - before.execution_count, 1)
    compute_ns = sum(
        getattr(stats, key) - getattr(before, key)
        for key in ("compute_input_ns", "compute_infer_ns", "compute_output_ns")
    )
    exec_s = compute_ns / executions / 1e9
    return {
        "triton_fixed_s": min(grpc_fixed, shm_fixed) if shm_fixed > 0 else grpc_fixed,
        "triton_grpc_s_per_mb": grpc_per_mb,
        "triton_shm_s_per_mb": shm_per_mb,
        "triton_exec_s": exec_s,
    }


class _Echo:
    """A Ray actor that returns an array of the asked size (like ``take_batch`` returns frames)."""

    def __init__(self) -> None:
        self._arrays: dict[int, npt.NDArray[np.uint8]] = {}

    def take(self, nbytes: int) -> npt.NDArray[np.uint8]:
        if nbytes not in self._arrays:
            self._arrays[nbytes] = np.ones(nbytes, np.uint8)
        return self._arrays[nbytes]


def _ray_round_trip(actor: Any, nbytes: int) -> object:
    import ray

    return ray.get(actor.take.remote(nbytes), timeout=30)


def measure_ray(*, reps: int) -> dict[str, float]:
    """Round trip of a Ray actor call returning 0, 0.25 and 1 MB (a local Ray, started if needed)."""
    import ray

    from pipeline.runtime.services import init_local_ray, stop_local_ray

    started = not ray.is_initialized()
    temp_dir = init_local_ray(num_cpus=1, object_store_mb=128)
    try:
        actor: Any = ray.remote(num_cpus=0)(_Echo).remote()
        sizes_mb = (0.0, 0.25, 1.0)
        seconds = []
        for size in sizes_mb:
            call = functools.partial(_ray_round_trip, actor, int(size * MB))
            seconds.append(median_s(call, reps=reps, warmup=3))
        ray.kill(actor)
    finally:
        if started:
            stop_local_ray(temp_dir)
    fixed, per_mb = fit_line(sizes_mb, seconds)
    return {"ray_fixed_s": fixed, "ray_s_per_mb": per_mb}


def measure_driver_frame(*, input_size: int, reps: int) -> float:
    """Per-frame Python work of the driver loop, on one frame at the model input size.

    The scheduler's frame statistics and the motion gate's downscale stand for the whole per-frame work.
    """
    from pipeline.scheduler.frames import frame_stats, grey_small

    frame = np.random.default_rng(0).integers(0, 256, (input_size, input_size, 3), dtype=np.uint8)

    def work() -> None:
        frame_stats(frame)
        grey_small(frame, 64)

    return median_s(work, reps=reps, warmup=3)
