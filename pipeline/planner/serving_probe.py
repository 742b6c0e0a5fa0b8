"""How a model runs inside Triton against the operator model: a probe with sampled networks.

A network scripted and timed in-process is not what Triton runs: the python backend's stub calls a
``torch.jit.load``-ed module on tensors it receives over shared memory, once per (dynamic) batch, with its
own allocator and caches. This probe exports a few :class:`~pipeline.planner.operators.ProbeNet` networks
(sampled widths, never a model config) into a Triton repository exactly as the exporter does, serves them
with this machine's CPU plan, and reads Triton's own compute time per execution at several batches. A
least-squares line ``served = scale * predicted + fixed`` turns the operator model's prediction of any
layer stack into the time of a Triton execution.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from pipeline.models.model_config import ModelConfig
from pipeline.planner.operators import OperatorModel, ProbeNet, predicted_layers_s

logger = logging.getLogger(__name__)

_SEED = 20261203
_TEMPLATE = "monolith"
"""The repository model whose config (uint8 frames in, ``[K, 6]`` detections out) the probes reuse."""


def _export(nets: list[ProbeNet], repository: Path) -> list[str]:
    from pipeline.serving.repository import CONFIG_FILE, VERSION, model_files

    names = []
    files = model_files(_TEMPLATE, ModelConfig())
    for index, net in enumerate(nets):
        name = f"probe_{index}"
        folder = repository / name
        for relative, text in files.items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if relative == CONFIG_FILE:
                text = text.replace(f'name: "{_TEMPLATE}"', f'name: "{name}"', 1)
            path.write_text(text)
        torch.jit.script(net).save(str(folder / VERSION / "model.pt"))  # type: ignore[no-untyped-call]
        names.append(name)
    return names


def measure_serving(
    model: OperatorModel,
    scratch: Path,
    *,
    nets: int = 3,
    batches: tuple[int, ...] = (1, 2, 4, 8),
    reps: int = 6,
) -> dict[str, float]:
    """``serving_scale``, ``serving_fixed_s`` and the fit's ``serving_rms_error`` on this machine."""
    from pipeline.serving.client import TritonClient
    from pipeline.serving.cpu_plan import plan_cpu
    from pipeline.serving.launcher import TritonServer

    rng = np.random.default_rng(_SEED)
    built = [(ProbeNet(rng).eval(), int(rng.choice([96, 128, 160]))) for _ in range(nets)]
    names = _export([net for net, _ in built], scratch / "serving_repository")
    predicted, served = [], []
    with (
        TritonServer(
            scratch / "serving_repository",
            models=names,
            run_dir=scratch / "serving_run",
            cpu_plan=plan_cpu([10.0] * 8),
            startup_timeout_s=120,
        ) as server,
        TritonClient(server.grpc_url, use_shared_memory=True) as client,
        torch.inference_mode(),
    ):
        for name, (net, size) in zip(names, built, strict=True):
            for batch in batches:
                frames = np.random.default_rng(batch).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
                for _ in range(2):
                    client.infer(name, frames)
                before = client.statistics(name)
                for _ in range(reps):
                    client.infer(name, frames)
                after = client.statistics(name)
                executions = max(after.execution_count - before.execution_count, 1)
                served.append((after.compute_infer_ns - before.compute_infer_ns) / executions / 1e9)
                predicted.append(model.call_s + predicted_layers_s(model, net, torch.from_numpy(frames)))
    x, y = np.asarray(predicted), np.asarray(served)
    scale, fixed = np.polyfit(x, y, 1)
    scale, fixed = max(float(scale), 0.5), max(float(fixed), 0.0)
    rms = float(np.sqrt(np.mean(((scale * x + fixed - y) / y) ** 2)))
    logger.info("Triton executions: %.2f x predicted + %.1f ms (rms %.0f%%)", scale, fixed * 1e3, 100 * rms)
    return {"serving_scale": scale, "serving_fixed_s": fixed, "serving_rms_error": rms}
