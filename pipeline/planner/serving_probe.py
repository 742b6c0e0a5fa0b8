"""How a model runs inside Triton against the operator model: the serving line, from sampled networks.

The python backend's stub calls a ``torch.jit.load``-ed module on tensors it receives over shared memory,
once per (dynamic) batch. A Triton execution is charged ``fixed + scale x`` the operator model's
prediction of its layers. ``fixed`` is the compute time of an execution of a null model, which the
pipeline probe (:mod:`loadtest.system_probe`) measures in the same server. This probe exports a few
:class:`~pipeline.planner.operators.ProbeNet` networks (sampled widths, never a model config) exactly as
the exporter does, serves them with this machine's CPU plan, times Triton's own compute per execution
at batches 1-8, and fits ``scale``: layers composed into a served network run slower than the sum of the
operators timed alone (about 1.05x at 1-4 frames and 1.3x at 8 on the calibration VM, where a batch's
activations outgrow the caches). The profile records the line's error (``serving_rms_error``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

from pipeline.models.model_config import ModelConfig
from pipeline.planner.operators import OperatorModel, ProbeNet, predicted_layers_s

if TYPE_CHECKING:
    from pipeline.serving.client import TritonClient

logger = logging.getLogger(__name__)

_SEED = 20261203
_TEMPLATE = "monolith"
"""The repository model whose config (uint8 frames in, ``[K, 6]`` detections out) the probes reuse."""


@dataclass(frozen=True)
class ServingProbe:
    """Sampled probe networks exported into a Triton repository, ready to be timed once it serves them."""

    names: list[str]
    nets: list[tuple[ProbeNet, int]]
    """Each network and the frame size it is timed at."""

    @classmethod
    def export(cls, repository: Path, *, nets: int = 3) -> ServingProbe:
        """Build ``nets`` probe networks and export them into ``repository`` as the exporter does."""
        from pipeline.serving.repository import CONFIG_FILE, VERSION, model_files

        rng = np.random.default_rng(_SEED)
        built = [(ProbeNet(rng).eval(), int(rng.choice([96, 128, 160]))) for _ in range(nets)]
        files = model_files(_TEMPLATE, ModelConfig())
        names = []
        for index, (net, _) in enumerate(built):
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
        return cls(names, built)

    @torch.inference_mode()
    def measure(
        self,
        client: TritonClient,
        model: OperatorModel,
        *,
        batches: tuple[int, ...] = (1, 2, 4, 8),
        reps: int = 4,
        rounds: int = 1,
    ) -> list[tuple[float, float]]:
        """(operator model's prediction, Triton's compute time) of one execution, per net and batch.

        Every net and batch is timed ``rounds`` times, one sweep after another, and keeps its median: one
        sweep can catch a burst of other work on a shared machine. An untimed sweep goes first: the
        first executions of a freshly loaded TorchScript module at each batch size run while the
        profiling executor specialises it (in three sweeps on one server, the first one's executions
        took 2-15 ms longer than the next two's, which agreed within a few percent).
        """
        cells = [
            (name, net, np.random.default_rng(batch).integers(0, 256, (batch, size, size, 3), dtype=np.uint8))
            for name, (net, size) in zip(self.names, self.nets, strict=True)
            for batch in batches
        ]
        for name, _, frames in cells:
            client.infer(name, frames)
        served = [[_served_s(client, name, frames, reps) for name, _, frames in cells] for _ in range(rounds)]
        return [
            (model.call_s + predicted_layers_s(model, net, torch.from_numpy(frames)), float(np.median(times)))
            for (_, net, frames), times in zip(cells, zip(*served, strict=True), strict=True)
        ]


def _served_s(client: TritonClient, name: str, frames: npt.NDArray[np.uint8], reps: int) -> float:
    """Triton's mean compute time of an execution of ``name`` on ``frames``, after two warm-up requests."""
    for _ in range(2):
        client.infer(name, frames)
    before = client.statistics(name)
    for _ in range(reps):
        client.infer(name, frames)
    after = client.statistics(name)
    executions = max(after.execution_count - before.execution_count, 1)
    return (after.compute_infer_ns - before.compute_infer_ns) / executions / 1e9


SCALE_RANGE = (0.5, 3.0)
"""The serving scale is kept within this range: outside it the probe networks were not measured."""


def fit_serving(samples: list[tuple[float, float]], fixed_s: float) -> dict[str, float]:
    """The serving line ``served = fixed + scale x predicted``: its scale, fixed part and rms error.

    ``fixed_s`` is what an execution of a model that computes nothing takes in the same server (the
    stub's hand-off, measured by the pipeline probe); the scale is the least-squares slope of the rest,
    each sample weighted by its own size (a relative error), so the smallest executions count as much as
    the largest. A free intercept as well swung from 0.6 to 1.6 in slope between calibrations of one
    machine; through the null model's hand-off, three-round calibrations of one VM read 0.91-1.05.
    """
    predicted = np.asarray([p for p, _ in samples])
    served = np.asarray([s for _, s in samples])
    weight = 1.0 / served**2
    scale = float(np.sum(weight * predicted * (served - fixed_s)) / np.sum(weight * predicted**2))
    scale = min(max(scale, SCALE_RANGE[0]), SCALE_RANGE[1])
    rms = float(np.sqrt(np.mean(((fixed_s + scale * predicted - served) / served) ** 2)))
    logger.info(
        "Triton executions: %.2f ms + %.2f x predicted, probe networks within %.0f%% rms",
        fixed_s * 1e3, scale, 100 * rms,
    )  # fmt: skip
    return {"serving_scale": scale, "serving_fixed_s": fixed_s, "serving_rms_error": rms}
