"""The planner's cost model: per-layer roofline, model latency, and per-frame cost of each design.

Per layer ``l`` at batch ``b`` (DESIGN.md, "The planner's cost model")::

    t_l(b) = max(b * F_l / (eta_c * P), (W_l + b * A_l) / (eta_m * B)) + n_l * kappa

with FLOPs ``F_l``, weight bytes ``W_l``, activation bytes moved per frame ``A_l`` (input read + output
written) and kernels ``n_l`` from :func:`pipeline.models.profile.profile_family` at batch 1. A model call
costs ``l_m(b) = l0 + sum_l t_l(b)`` and a frame ``c_m(b) = l_m(b) / b``.

A design is a set of *routes*: the Triton model the client calls for a share of the frames, and the model
steps it runs (trunk, heads or specialists, merge). Condition routes split the frames by the mix ``p_k``,
so their models run at batch ``p_k * b``; class-group routes run every model at ``b``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.errors import ConfigError
from pipeline.models.classes import CONDITIONS, GROUPS
from pipeline.models.designs import DESIGNS, MERGE_MODEL
from pipeline.models.model_config import ModelConfig
from pipeline.planner.hardware import MB, HardwareProfile

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
DETECTION_ROW_BYTES = 6 * 4


@dataclass(frozen=True)
class ModelCost:
    """Per-layer cost arrays of one model (per frame, from a batch-1 profile)."""

    name: str
    flops: FloatArray
    weights: FloatArray
    activations: FloatArray
    kernels: FloatArray
    input_bytes: int
    output_bytes: int
    reads_features: bool

    @property
    def weight_bytes(self) -> int:
        """Bytes of weights (and buffers) this model keeps in memory."""
        return int(self.weights.sum())

    def layer_times(self, hardware: HardwareProfile, batch: float) -> FloatArray:
        """``t_l(batch)`` of every layer, in seconds."""
        compute = batch * self.flops / (hardware.eta_c * hardware.peak_flops)
        memory = (self.weights + batch * self.activations) / (hardware.eta_m * hardware.bandwidth)
        times: FloatArray = np.maximum(compute, memory) + self.kernels * hardware.kappa_s
        return times

    def latency_s(self, hardware: HardwareProfile, batch: float) -> float:
        """``l_m(batch)``: seconds of one call on ``batch`` frames."""
        return hardware.l0_s + float(self.layer_times(hardware, batch).sum())

    def frame_cost_s(self, hardware: HardwareProfile, batch: float) -> float:
        """``c_m(batch) = l_m(batch) / batch``: seconds per frame."""
        return self.latency_s(hardware, batch) / batch


def merge_cost(name: str, max_detections: int, parts: int) -> ModelCost:
    """The merge model as one memory-bound layer: read ``parts`` detection tensors, write one."""
    rows = float(max_detections * DETECTION_ROW_BYTES)
    return ModelCost(
        name=name,
        flops=np.zeros(1),
        weights=np.zeros(1),
        activations=np.array([rows * (parts + 1)]),
        kernels=np.array([float(parts + 2)]),
        input_bytes=int(rows * parts),
        output_bytes=int(rows),
        reads_features=False,
    )


@functools.lru_cache(maxsize=64)
def _profiled(family: str, config_json: str) -> ModelCost:
    from pipeline.models.profile import profile_family
    from pipeline.models.registry import ModelInput, get_family

    config = ModelConfig.model_validate_json(config_json)
    profile = profile_family(family, config, batch=1)
    layers = profile.layers
    return ModelCost(
        name=family,
        flops=np.array([float(layer.flops) for layer in layers]),
        weights=np.array([float(layer.weight_bytes) for layer in layers]),
        activations=np.array([float(layer.input_bytes + layer.activation_bytes) for layer in layers]),
        kernels=np.array([float(layer.kernels) for layer in layers]),
        input_bytes=profile.input_bytes,
        output_bytes=profile.output_bytes,
        reads_features=get_family(family).input is ModelInput.FEATURES,
    )


def family_cost(family: str, config: ModelConfig) -> ModelCost:
    """The cost arrays of registry family ``family`` built from ``config`` (profiled once, then cached)."""
    return _profiled(family, config.model_dump_json())


@dataclass(frozen=True)
class Route:
    """One Triton model the client calls, for ``share`` of all frames, and the model steps it runs."""

    served: str
    share: float
    steps: tuple[str, ...]


@dataclass(frozen=True)
class DesignCost:
    """A design as routes plus the cost of every model step they name."""

    design: str
    routes: tuple[Route, ...]
    models: Mapping[str, ModelCost]

    def model_shares(self) -> dict[str, float]:
        """Fraction of all frames that each model step sees."""
        shares: dict[str, float] = {}
        for route in self.routes:
            for step in route.steps:
                shares[step] = shares.get(step, 0.0) + route.share
        return shares

    @property
    def weight_bytes(self) -> int:
        """Weights of every model the design loads."""
        return sum(model.weight_bytes for model in self.models.values())

    def step_frame_cost_s(self, hardware: HardwareProfile, model: str, batch: float) -> float:
        """Device seconds per frame of one step at ``batch``: layers, python-backend execution, hand-off.

        A head reads the trunk's FEATURES through Triton's ensemble: the python backend copies them out of
        the trunk's stub and into the head's, so two memory copies of the feature bytes are counted.
        """
        cost = self.models[model]
        seconds = cost.frame_cost_s(hardware, batch) + hardware.triton_exec_s / batch
        if cost.reads_features:
            seconds += 2 * cost.input_bytes / (hardware.eta_m * hardware.bandwidth)
        return seconds

    def frame_cost_s(self, hardware: HardwareProfile, batches: Mapping[str, float]) -> float:
        """Device seconds per frame of the whole design with each model at ``batches[model]``.

        ``sum_m s_m * c_m(b_m)`` over model steps ``m`` that see a share ``s_m`` of the frames.
        """
        return sum(
            share * self.step_frame_cost_s(hardware, model, batches[model])
            for model, share in self.model_shares().items()
        )

    def fragmented_batches(self, batch: float) -> dict[str, float]:
        """Each model's batch when the design receives ``batch`` frames: ``s_m * batch`` (at least 1)."""
        return {model: max(1.0, share * batch) for model, share in self.model_shares().items()}

    def frame_cost_at(self, hardware: HardwareProfile, batch: float) -> float:
        """Per-frame cost when a batch of ``batch`` frames fragments by the shares of the routes."""
        return self.frame_cost_s(hardware, self.fragmented_batches(batch))


def parse_mix(mix: Mapping[str, float] | None) -> dict[str, float]:
    """Normalise a condition mix to shares that sum to 1 (``None`` = equal shares).

    Raises:
        ConfigError: for an unknown condition, a negative share or an all-zero mix.
    """
    if not mix:
        return dict.fromkeys(CONDITIONS, 1.0 / len(CONDITIONS))
    unknown = set(mix) - set(CONDITIONS)
    if unknown:
        raise ConfigError(
            f"unknown condition(s) {sorted(unknown)} in the mix; known: {', '.join(CONDITIONS)}"
        )
    if any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        raise ConfigError(f"mix shares must be >= 0 and not all zero, got {dict(mix)}")
    total = sum(mix.values())
    return {c: mix.get(c, 0.0) / total for c in CONDITIONS}


def design_cost(
    design: str,
    config: ModelConfig,
    *,
    mix: Mapping[str, float] | None = None,
    specialists: int | None = None,
) -> DesignCost:
    """Routes and model costs of ``design``.

    Args:
        design: One of :data:`pipeline.models.designs.DESIGNS`.
        config: Model sizes (input size, backbones, branch point).
        mix: Share of streams per condition (normalised; equal when ``None``).
        specialists: What-if: ``N`` specialists (or heads) instead of the 3 of the families. Condition
            designs then split the frames ``1/N`` each (the mix is ignored); group designs run all ``N``.
            Each extra specialist costs like the families' first one.

    Raises:
        ConfigError: for an unknown design or a bad mix or specialist count.
    """
    if design not in DESIGNS:
        raise ConfigError(f"unknown design {design!r}; known: {', '.join(DESIGNS)}")
    if specialists is not None and specialists < 1:
        raise ConfigError(f"--specialists must be >= 1, got {specialists}")
    shares = parse_mix(mix)
    models: dict[str, ModelCost] = {}

    def add(name: str, family: str) -> str:
        models[name] = family_cost(family, config)
        return name

    def names(kinds: Sequence[str], prefix: str) -> list[tuple[str, str]]:
        if specialists is None:
            return [(f"{prefix}_{k}", f"{prefix}_{k}") for k in kinds]
        return [(f"{prefix}_{i + 1}", f"{prefix}_{kinds[i % len(kinds)]}") for i in range(specialists)]

    routes: list[Route] = []
    if design == "monolith":
        routes.append(Route("monolith", 1.0, (add("monolith", "monolith"),)))
    elif design in ("specialists-condition", "shared-condition"):
        prefix = "specialist" if design == "specialists-condition" else "head"
        members = names(CONDITIONS, prefix)
        trunk = (add("trunk", "trunk"),) if prefix == "head" else ()
        for index, (name, family) in enumerate(members):
            share = shares[CONDITIONS[index]] if specialists is None else 1.0 / len(members)
            if share > 0:
                served = name if prefix == "specialist" else f"shared_{name.removeprefix('head_')}"
                # Condition families share one architecture (families.py): profile it once.
                del family
                routes.append(Route(served, share, (*trunk, add(name, f"{prefix}_{CONDITIONS[0]}"))))
    else:
        prefix = "specialist" if design == "specialists-groups" else "head"
        members = names(GROUPS, prefix)
        trunk = (add("trunk", "trunk"),) if prefix == "head" else ()
        steps = [*trunk, *(add(name, family) for name, family in members)]
        if len(members) > 1:
            models[MERGE_MODEL] = merge_cost(MERGE_MODEL, config.head.max_detections, len(members))
            steps.append(MERGE_MODEL)
        served = "specialists_groups" if prefix == "specialist" else "shared_groups"
        routes.append(Route(served, 1.0, tuple(steps)))
    return DesignCost(design=design, routes=tuple(routes), models=models)


def frame_bytes(input_size: int) -> int:
    """Bytes of one uint8 RGB frame at the model input size (what the client and Ray move)."""
    return input_size * input_size * 3


def transport_s(
    hardware: HardwareProfile, batch: float, input_size: int, max_detections: int, *, shared_memory: bool
) -> float:
    """Seconds of one Triton request carrying ``batch`` frames in and their detections out."""
    megabytes = batch * (frame_bytes(input_size) + max_detections * DETECTION_ROW_BYTES) / MB
    return hardware.triton_request_s(megabytes, shared_memory=shared_memory)


def decode_core_s_per_camera(hardware: HardwareProfile, width: int, height: int, source_fps: float) -> float:
    """Core-seconds per second that one camera costs to decode (every source frame is decoded)."""
    return source_fps * hardware.decode_s(width, height)


def ray_call_s(hardware: HardwareProfile, frames: float, input_size: int) -> float:
    """Seconds of one ``take_batch`` Ray call returning ``frames`` frames at the model input size."""
    return hardware.ray_call_s(frames * frame_bytes(input_size) / MB)
