"""How a model runs inside Triton against the operator model: a check with sampled networks.

The python backend's stub calls a ``torch.jit.load``-ed module on tensors it receives over shared memory,
once per (dynamic) batch. A Triton execution is charged the operator model's prediction of its layers plus
a fixed hand-off: the compute time of an execution of a null model, which the pipeline probe
(:mod:`loadtest.system_probe`) measures in the same server. This probe exports a few
:class:`~pipeline.planner.operators.ProbeNet` networks (sampled widths, never a model config) exactly as
the exporter does, serves them with this machine's CPU plan, and compares Triton's own compute time per
execution at several batches with that charge: the profile records the error (``serving_rms_error``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
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
    ) -> list[tuple[float, float]]:
        """(operator model's prediction, Triton's compute time) of one execution, per net and batch."""
        samples = []
        for name, (net, size) in zip(self.names, self.nets, strict=True):
            for batch in batches:
                frames = np.random.default_rng(batch).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
                for _ in range(2):
                    client.infer(name, frames)
                before = client.statistics(name)
                for _ in range(reps):
                    client.infer(name, frames)
                after = client.statistics(name)
                executions = max(after.execution_count - before.execution_count, 1)
                served = (after.compute_infer_ns - before.compute_infer_ns) / executions / 1e9
                predicted = model.call_s + predicted_layers_s(model, net, torch.from_numpy(frames))
                samples.append((predicted, served))
        return samples


def fit_serving(samples: list[tuple[float, float]], fixed_s: float) -> dict[str, float]:
    """``serving_scale``, ``serving_fixed_s`` and ``serving_rms_error`` of ``served = predicted + fixed``.

    ``fixed_s`` is what an execution of a model that computes nothing takes in the same server (the
    stub's hand-off, measured by the pipeline probe). The layers are charged what the operator model
    predicts, unscaled: Triton runs the same TorchScript at the same threads. A slope fitted on a few
    probe networks swung from 0.6 to 1.6 between calibrations of one machine (38-48% rms), so the probe
    networks are a check here, and their error is reported, not fitted away.
    """
    x = np.asarray([p for p, _ in samples])
    y = np.asarray([s for _, s in samples])
    rms = float(np.sqrt(np.mean(((x + fixed_s - y) / y) ** 2)))
    logger.info(
        "Triton executions: predicted + %.2f ms, probe networks within %.0f%% rms", fixed_s * 1e3, 100 * rms
    )
    return {"serving_scale": 1.0, "serving_fixed_s": fixed_s, "serving_rms_error": rms}
