"""``camfleet plan calibrate``: measure this machine and fit the cost model's efficiencies.

Steps (each short; the whole run stays under about two minutes on two cores, ``quick`` under 30 s):

1. Peak compute ``P`` (matmuls and a convolution at several sizes), memory bandwidth ``B`` (a large copy)
   and the cost of one tiny operator, at the torch threads of one Triton model instance.
2. Real models of the families at batches 1, 8 and 32; ``eta_c``, ``eta_m``, ``kappa`` and ``l0`` are fitted
   by least squares on the relative error between measured and roofline times.
3. Decode cost per frame (PyAV, one thread) at 360p and 720p; Triton request overhead (gRPC and shared
   memory, bundled server with a no-op model); Ray actor call overhead; the driver's per-frame work.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from pipeline.models.model_config import ModelConfig
from pipeline.models.profile import example_input
from pipeline.models.registry import build_model
from pipeline.planner import probes
from pipeline.planner.cost import ModelCost, family_cost
from pipeline.planner.hardware import HardwareProfile

logger = logging.getLogger(__name__)

FIT_FAMILIES = ("monolith", "specialist_day", "trunk", "head_day")
QUICK_FAMILIES = ("monolith", "specialist_day", "trunk")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(call: Any, device: torch.device, reps: int) -> float:
    def run() -> None:
        call()
        _sync(device)

    return probes.median_s(run, reps=reps, warmup=1)


@torch.no_grad()
def measure_compute(device: torch.device, *, quick: bool) -> tuple[float, float, float]:
    """Peak FLOP/s, bandwidth (bytes/s) and the time of one tiny operator on ``device``."""
    dtype = torch.float32
    best_flops = 0.0
    for n in (256, 512) if quick else (256, 512, 1024):
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        best_flops = max(best_flops, 2 * n**3 / _timed(lambda a=a, b=b: a @ b, device, reps=5))
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False).to(device)
    x = torch.randn(4, 64, 40, 40, device=device)
    conv_flops = 2 * 64 * 64 * 9 * 4 * 40 * 40
    best_flops = max(best_flops, conv_flops / _timed(lambda: conv(x), device, reps=5))
    elements = (16 if quick else 32) * 2**20 // 4
    src, dst = torch.randn(elements, device=device), torch.empty(elements, device=device)
    bandwidth = 2 * src.nbytes / _timed(lambda: dst.copy_(src), device, reps=5)
    tiny = torch.ones(1, device=device)
    kernel_s = _timed(lambda: torch.add(tiny, tiny), device, reps=200)
    return best_flops, bandwidth, kernel_s


@torch.no_grad()
def measure_models(
    config: ModelConfig, families: Sequence[str], batches: Sequence[int], device: torch.device, reps: int
) -> list[tuple[ModelCost, int, float]]:
    """Measured seconds of one forward pass of each family at each batch: ``(cost, batch, seconds)``."""
    rows = []
    for family in families:
        module = build_model(family, config).to(device)
        for batch in batches:
            inputs = example_input(family, config, batch).to(device)
            seconds = _timed(lambda m=module, x=inputs: m(x), device, reps=reps)
            rows.append((family_cost(family, config), batch, seconds))
            logger.debug("%s at batch %d: %.2f ms", family, batch, seconds * 1e3)
    return rows


def fit_efficiencies(
    rows: Sequence[tuple[ModelCost, int, float]], peak_flops: float, bandwidth: float
) -> dict[str, float]:
    """Fit ``eta_c``, ``eta_m``, ``kappa_s`` and ``l0_s`` to measured model times.

    For each ``(eta_c, eta_m)`` on a log grid, ``l0`` and ``kappa`` follow from a linear least-squares fit
    (clipped at 0) of the remaining time; the pair with the least squared relative error wins.
    """
    measured = np.array([seconds for _, _, seconds in rows])
    kernels = np.array([float(cost.kernels.sum()) for cost, _, _ in rows])
    best: tuple[float, dict[str, float]] = (float("inf"), {})
    grid = np.geomspace(0.02, 4.0, 40)
    for eta_c in grid:
        for eta_m in grid:
            roof = np.array(
                [
                    float(
                        np.maximum(
                            batch * cost.flops / (eta_c * peak_flops),
                            (cost.weights + batch * cost.activations) / (eta_m * bandwidth),
                        ).sum()
                    )
                    for cost, batch, _ in rows
                ]
            )
            # Relative error: divide every row by the measured time.
            design = np.stack([np.ones_like(measured), kernels], axis=1) / measured[:, None]
            target = (measured - roof) / measured
            coef, *_ = np.linalg.lstsq(design, target, rcond=None)
            l0, kappa = max(float(coef[0]), 0.0), max(float(coef[1]), 0.0)
            error = float(((((roof + l0 + kappa * kernels) - measured) / measured) ** 2).sum())
            if error < best[0]:
                best = (error, {"eta_c": float(eta_c), "eta_m": float(eta_m), "kappa_s": kappa, "l0_s": l0})
    logger.info("fit: %s (rms relative error %.1f%%)", best[1], 100 * np.sqrt(best[0] / len(rows)))
    return best[1]


def calibrate(
    config: ModelConfig,
    *,
    quick: bool = False,
    threads: int | None = None,
    skip_triton: bool = False,
    skip_ray: bool = False,
    device_name: str | None = None,
    show_progress: bool = True,
) -> HardwareProfile:
    """Run every calibration step and return the hardware profile (see the module docstring).

    Args:
        config: Model sizes (the fit uses real models of these sizes, at its input size).
        quick: Fewer sizes, batches and repetitions (under 30 s on two cores).
        threads: Torch threads; default: what one Triton model instance uses on CPU.
        skip_triton: Keep the default Triton figures instead of starting the bundled server.
        skip_ray: Keep the default Ray figures instead of starting a local Ray.
        device_name: ``cpu`` or ``cuda``; default: ``cuda`` when available.
        show_progress: Show a progress bar.
    """
    from pipeline.serving.repository import CPU, GPU

    device = torch.device(device_name or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = device.type == "cuda"
    stack = GPU if gpu else CPU
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or stack.torch_threads)
    cores = os.cpu_count() or 1
    steps = ["compute", "models", "decode", "driver"] + ([] if skip_triton else ["triton"])
    steps += [] if skip_ray else ["ray"]
    figures: dict[str, Any] = {}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="camfleet-calibrate-") as scratch,
            Progress(disable=not show_progress, transient=True) as progress,
        ):
            task = progress.add_task("calibrate", total=len(steps))
            for step in steps:
                progress.update(task, description=f"calibrate: {step}")
                figures.update(_run_step(step, config, device, Path(scratch), quick, figures))
                progress.advance(task)
    finally:
        torch.set_num_threads(previous)
    name = torch.cuda.get_device_name(device) if gpu else f"cpu ({cores} cores)"
    return HardwareProfile(
        device=name,
        device_kind="cuda" if gpu else "cpu",
        cores=cores,
        threads=threads or stack.torch_threads,
        instances=stack.count,
        notes=f"camfleet plan calibrate{' --quick' if quick else ''} at input size {config.input_size}",
        **figures,
    )


def _run_step(
    step: str, config: ModelConfig, device: torch.device, scratch: Path, quick: bool, so_far: dict[str, Any]
) -> dict[str, Any]:
    reps = 3 if quick else 7
    size = config.input_size
    if step == "compute":
        peak, bandwidth, kernel_s = measure_compute(device, quick=quick)
        return {"peak_flops": peak, "bandwidth": bandwidth, "kappa_s": kernel_s}
    if step == "models":
        families = QUICK_FAMILIES if quick else FIT_FAMILIES
        batches = (1, 8) if quick else (1, 8, 32)
        rows = measure_models(config, families, batches, device, reps=2 if quick else 3)
        return fit_efficiencies(rows, so_far["peak_flops"], so_far["bandwidth"])
    if step == "decode":
        resolutions = ((640, 360), (1280, 720))
        seconds = 1.0 if quick else 2.0
        return {"decode": probes.measure_decode(scratch, resolutions, input_size=size, seconds=seconds)}
    if step == "driver":
        return {"driver_frame_s": probes.measure_driver_frame(input_size=size, reps=50)}
    if step == "triton":
        return probes.measure_triton(scratch, input_size=size, reps=reps * 3)
    return probes.measure_ray(reps=reps * 5)
