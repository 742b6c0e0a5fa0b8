"""``camfleet bench models``: frames/s per design and batch, direct PyTorch against Triton.

Every figure of one run comes from the same machine at the same time, so the Triton/PyTorch ratios are
side-by-side measurements. PyTorch runs with the same number of threads as one Triton model instance.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from rich.progress import track

from pipeline.models.designs import DESIGNS, get_design
from pipeline.models.export import export_repository
from pipeline.models.model_config import ModelConfig
from pipeline.models.torch_design import TorchDesign
from pipeline.serving.client import TritonClient
from pipeline.serving.launcher import TritonServer
from pipeline.serving.repository import CPU

logger = logging.getLogger(__name__)

Transport = Literal["torch", "grpc", "shm"]
DEFAULT_BATCHES = (1, 8, 32)


@dataclass(frozen=True)
class BenchRow:
    """One measurement: a design at a batch size over one transport."""

    design: str
    batch: int
    transport: Transport
    fps: float
    ratio_to_torch: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def frames_per_second(call: Callable[[], object], batch: int, *, seconds: float, min_calls: int = 3) -> float:
    """Call ``call`` after one warm-up until ``seconds`` passed and ``min_calls`` were made; return fps."""
    call()
    calls = 0
    start = time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < seconds:
        call()
        calls += 1
    return calls * batch / (time.perf_counter() - start)


def _bench_design(
    design_name: str,
    repository: Path,
    config: ModelConfig,
    batches: Sequence[int],
    clients: dict[Transport, TritonClient],
    seconds: float,
) -> list[BenchRow]:
    design = get_design(design_name)
    reference = TorchDesign.from_repository(design, repository, max_detections=config.head.max_detections)
    served = design.model_for("day")
    rows = []
    rng = np.random.default_rng(0)
    for batch in batches:
        frames = rng.integers(0, 256, (batch, config.input_size, config.input_size, 3), dtype=np.uint8)
        tensor = torch.from_numpy(frames)
        torch_fps = frames_per_second(functools.partial(reference, tensor), batch, seconds=seconds)
        rows.append(BenchRow(design_name, batch, "torch", torch_fps, 1.0))
        for transport, client in clients.items():
            fps = frames_per_second(functools.partial(client.infer, served, frames), batch, seconds=seconds)
            rows.append(BenchRow(design_name, batch, transport, fps, fps / torch_fps))
    return rows


def bench_models(
    config: ModelConfig,
    *,
    designs: Sequence[str] | None = None,
    batches: Sequence[int] = DEFAULT_BATCHES,
    seconds: float = 2.0,
    repository: Path | None = None,
    show_progress: bool = True,
) -> list[BenchRow]:
    """Measure every design at every batch size: direct PyTorch, Triton over gRPC and over shared memory.

    Args:
        config: Model sizes; random weights are exported for it unless ``repository`` holds weights.
        designs: Design names (all five when ``None``).
        batches: Batch sizes.
        seconds: Minimum measuring time per figure.
        repository: An exported repository to use instead of a fresh random-weight export.
        show_progress: Show a progress bar.

    Returns:
        One row per design, batch and transport.
    """
    names = list(designs or DESIGNS)
    for name in names:
        get_design(name)  # unknown names fail before anything starts
    needed = sorted({model for name in names for model in get_design(name).required_models})
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(CPU.torch_threads)
    try:
        with tempfile.TemporaryDirectory(prefix="camfleet-bench-") as scratch:
            if repository is None:
                repository = Path(scratch) / "repository"
                export_repository(config, repository, models=needed)
            with (
                TritonServer(repository, models=needed) as server,
                TritonClient(server.grpc_url, use_shared_memory=False) as grpc,
                TritonClient(server.grpc_url, use_shared_memory=True) as shm,
            ):
                clients: dict[Transport, TritonClient] = {"grpc": grpc, "shm": shm}
                rows: list[BenchRow] = []
                for name in track(names, description="bench models", disable=not show_progress):
                    rows.extend(_bench_design(name, repository, config, batches, clients, seconds))
    finally:
        torch.set_num_threads(previous_threads)
    return rows
