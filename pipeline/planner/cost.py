"""The planner's model costs: each model's layers, their predicted time, and the routes of each design.

Per layer ``l`` of operator kind ``k`` at batch ``b`` (:mod:`pipeline.planner.operators`)::

    t_l(b) = kernel_k * n_l + flop_k * b * F_l + byte_k * b * A_l + weight_k * W_l
             + narrow_in_k * b * F_l / C_in + narrow_out_k * b * F_l / C_out

with FLOPs ``F_l``, activation bytes moved per frame ``A_l`` (input read + output written), weight bytes
``W_l``, a convolution's channels ``C_in`` (per group) and ``C_out`` and kernels ``n_l`` from
:func:`pipeline.models.profile.profile_family` at batch 1; the cost lines
come from sampled operators, never from the model being predicted. A model call costs
``l_m(b) = call + sum_l t_l(b)``.

A design is a set of *routes*: the Triton model the client calls for a share of the frames, and the model
steps it runs (trunk, heads or specialists, merge). Condition routes split the frames by the mix ``p_k``,
so their models run at batch ``p_k * b``; class-group routes run every model at ``b``.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.errors import ConfigError
from pipeline.models.classes import CONDITIONS, GROUPS
from pipeline.models.designs import DESIGNS, MERGE_MODEL
from pipeline.models.model_config import ModelConfig
from pipeline.planner.hardware import HardwareProfile
from pipeline.planner.operators import FEATURES, PER_CALL

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
DETECTION_ROW_BYTES = 6 * 4


@dataclass(frozen=True)
class ModelCost:
    """Per-layer cost arrays of one model (per frame, from a batch-1 profile)."""

    name: str
    features: FloatArray
    """One row of :data:`~pipeline.planner.operators.FEATURES` per layer, for one frame."""
    kinds: tuple[str, ...]
    input_bytes: int
    output_bytes: int
    reads_features: bool

    def _column(self, feature: str) -> FloatArray:
        column: FloatArray = self.features[:, FEATURES.index(feature)]
        return column

    @property
    def weight_bytes(self) -> int:
        """Bytes of weights (and buffers) this model keeps in memory."""
        return int(self._column("weight_bytes").sum())

    @property
    def flops_per_frame(self) -> float:
        """FLOPs of one frame."""
        return float(self._column("flops").sum())

    def latency_line(self, hardware: HardwareProfile) -> tuple[float, float]:
        """``(fixed, per_frame)`` seconds: ``l_m(b) = fixed + per_frame * b`` (every cost line is linear)."""
        coefficients = np.array([hardware.operators.kind(kind).coefficients() for kind in self.kinds])
        per_layer = (coefficients * self.features).sum(axis=0)  # seconds per feature, summed over layers
        fixed = hardware.operators.call_s + float(per_layer[PER_CALL].sum())
        return fixed, float(per_layer[~PER_CALL].sum())

    def latency_s(self, hardware: HardwareProfile, batch: float) -> float:
        """``l_m(batch)``: seconds of one call on ``batch`` frames, at the profile's torch threads."""
        fixed, per_frame = self.latency_line(hardware)
        return fixed + per_frame * batch

    def frame_cost_s(self, hardware: HardwareProfile, batch: float) -> float:
        """``l_m(batch) / batch``: seconds per frame."""
        return self.latency_s(hardware, batch) / batch

    def peak_activation_bytes(self) -> int:
        """Largest activation one frame produces (what a batch multiplies in memory)."""
        moved = self._column("moved_bytes")
        return int(moved.max()) if len(moved) else 0


def merge_cost(name: str, max_detections: int, parts: int) -> ModelCost:
    """The merge model as one memory-bound layer: read ``parts`` detection tensors, write one."""
    rows = float(max_detections * DETECTION_ROW_BYTES)
    merge = dict.fromkeys(FEATURES, 0.0) | {"kernels": float(parts + 2), "moved_bytes": rows * (parts + 1)}
    return ModelCost(
        name=name,
        features=np.array([[merge[feature] for feature in FEATURES]]),
        kinds=("elementwise",),
        input_bytes=int(rows * parts),
        output_bytes=int(rows),
        reads_features=False,
    )


@functools.lru_cache(maxsize=64)
def _profiled(family: str, config_json: str) -> ModelCost:
    from pipeline.models.profile import profile_family
    from pipeline.models.registry import ModelInput, get_family
    from pipeline.planner.operators import layer_features, layer_kind

    config = ModelConfig.model_validate_json(config_json)
    profile = profile_family(family, config, batch=1, device="meta")
    layers = profile.layers
    return ModelCost(
        name=family,
        features=np.array([layer_features(layer) for layer in layers], dtype=float).reshape(
            -1, len(FEATURES)
        ),
        kinds=tuple(layer_kind(layer.kind) for layer in layers),
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
    parallel: tuple[str, ...] = ()
    """The steps Triton's ensemble scheduler runs at the same time (a group design's members)."""
    conditions: tuple[str, ...] = ()
    """The lighting conditions whose cameras this route serves; empty: every camera, or an even split."""


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


def assign_conditions(cameras: int, mix: Mapping[str, float] | None) -> list[str]:
    """One fixed condition per camera, in blocks of a condition, so the shares match ``mix`` closely.

    Largest remainder: each condition gets ``floor(share x cameras)``, the rest go to the largest
    remainders. Cameras are listed condition by condition (as a config lists them by site), which is how
    the load tester lays out its simulated cameras and how workers, filling in order, receive them.
    """
    exact = {c: share * cameras for c, share in parse_mix(mix).items()}
    counts = {c: math.floor(v) for c, v in exact.items()}
    for c in sorted(exact, key=lambda c: (counts[c] - exact[c], CONDITIONS.index(c)))[
        : cameras - sum(counts.values())
    ]:
        counts[c] += 1
    return [c for c in CONDITIONS for _ in range(counts[c])]


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
                step = add(name, f"{prefix}_{CONDITIONS[0]}")
                conditions = (CONDITIONS[index],) if specialists is None else ()
                routes.append(Route(served, share, (*trunk, step), conditions=conditions))
    else:
        prefix = "specialist" if design == "specialists-groups" else "head"
        members = names(GROUPS, prefix)
        trunk = (add("trunk", "trunk"),) if prefix == "head" else ()
        steps = [*trunk, *(add(name, family) for name, family in members)]
        if len(members) > 1:
            models[MERGE_MODEL] = merge_cost(MERGE_MODEL, config.head.max_detections, len(members))
            steps.append(MERGE_MODEL)
        served = "specialists_groups" if prefix == "specialist" else "shared_groups"
        parallel = tuple(name for name, _ in members) if len(members) > 1 else ()
        routes.append(Route(served, 1.0, tuple(steps), parallel))
    return DesignCost(design=design, routes=tuple(routes), models=models)


def frame_bytes(input_size: int) -> int:
    """Bytes of one uint8 RGB frame at the model input size (what a request carries per frame)."""
    return input_size * input_size * 3
