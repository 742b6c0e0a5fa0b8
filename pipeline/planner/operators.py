"""Operator-level latency model: time sampled operators, fit one cost line per operator kind, predict layers.

Calibration never runs the architectures it will predict. It builds single operators of the kinds camfleet's
models are made of (convolutions, element-wise layers, the box decoder) at shapes drawn from a fixed,
seeded distribution, profiles each with the same profiler the planner applies to a model (so the features
agree), and times it at a few batch sizes. Per kind, a non-negative least-squares fit on relative error gives

    t(b) = per_kernel_s * kernels + per_flop_s * b * flops + per_byte_s * b * moved_bytes
           + per_weight_byte_s * weight_bytes
           + narrow_in_s * b * flops / in_channels + narrow_out_s * b * flops / out_channels

The last two terms (convolutions only) make a FLOP dearer the narrower the layer: a stem of 3 channels
or a head of 4 outputs fills few vector lanes, a 192-channel stage all of them. Without them the fit
charged the wide stages of a wide monolith 35% too much.

A model call is then ``call_s`` (the fixed cost of calling a TorchScript module, from a scripted probe
network) plus the sum of its layers. This is the nn-Meter idea (kernel-level predictors from sampled
kernels) with linear predictors instead of forests: the operators here are few and regular.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import nnls  # type: ignore[import-untyped]
from torch import nn

from pipeline.planner.timing import median_s

if TYPE_CHECKING:
    from pipeline.models.profile import LayerProfile

logger = logging.getLogger(__name__)

KINDS = ("conv", "elementwise", "decoder")
_SEED = 20261202
_MAX_PROBE_FLOPS = 1.5e9
"""A probe's batch is cut so that one timed call stays under this many FLOPs (calibration time)."""


def layer_kind(module_kind: str) -> str:
    """The operator kind of a profiled layer (its module class name)."""
    if module_kind == "Conv2d":
        return "conv"
    if module_kind == "BoxDecoder":
        return "decoder"
    return "elementwise"


FEATURES = ("kernels", "flops", "moved_bytes", "weight_bytes", "flops/in_channels", "flops/out_channels")
"""What a layer's cost line multiplies."""
PER_CALL = np.array([name in ("kernels", "weight_bytes") for name in FEATURES])
"""Which of :data:`FEATURES` a call pays once whatever its batch; the others grow with the batch."""


def layer_features(layer: LayerProfile, batch: float = 1.0) -> list[float]:
    """:data:`FEATURES` of one profiled layer (profiled at batch 1) run on ``batch`` frames."""
    narrow_in, narrow_out = layer.narrow_flops()
    moved = layer.input_bytes + layer.activation_bytes
    return [
        float(layer.kernels),
        batch * layer.flops,
        batch * moved,
        float(layer.weight_bytes),
        batch * narrow_in,
        batch * narrow_out,
    ]


class KindFit(BaseModel):
    """The fitted cost line of one operator kind (seconds per unit of each feature)."""

    model_config = ConfigDict(extra="forbid")

    per_kernel_s: float = Field(0.0, ge=0)
    per_flop_s: float = Field(0.0, ge=0)
    per_byte_s: float = Field(0.0, ge=0)
    per_weight_byte_s: float = Field(0.0, ge=0)
    narrow_in_s: float = Field(0.0, ge=0, description="Seconds per FLOP/input channel (convolutions).")
    narrow_out_s: float = Field(0.0, ge=0, description="Seconds per FLOP/output channel (convolutions).")
    samples: int = Field(0, ge=0, description="Probe timings the fit used.")
    rms_relative_error: float = Field(0.0, ge=0, description="Of the fit on its own probes.")

    def seconds(self, features: Sequence[float]) -> float:
        """Predicted seconds of one layer call from its :data:`FEATURES` (those of its whole batch)."""
        return float(np.dot(self.coefficients(), features))

    COSTS: ClassVar[tuple[str, ...]] = (
        "per_kernel_s",
        "per_flop_s",
        "per_byte_s",
        "per_weight_byte_s",
        "narrow_in_s",
        "narrow_out_s",
    )
    """The coefficients' field names, in the order of :data:`FEATURES`."""

    def coefficients(self) -> list[float]:
        """The coefficient of each of :data:`FEATURES`, in order."""
        return [getattr(self, name) for name in self.COSTS]


class OperatorModel(BaseModel):
    """Cost lines of every operator kind and the fixed cost of one model call, at ``threads`` threads."""

    model_config = ConfigDict(extra="forbid")

    threads: int = Field(1, ge=1)
    call_s: float = Field(1e-4, ge=0, description="Fixed cost of one TorchScript module call.")
    conv: KindFit = Field(default_factory=lambda: KindFit(per_kernel_s=1e-5, per_flop_s=1.5e-11))
    elementwise: KindFit = Field(default_factory=lambda: KindFit(per_kernel_s=5e-6, per_byte_s=1e-10))
    decoder: KindFit = Field(default_factory=lambda: KindFit(per_kernel_s=8e-6, per_byte_s=2e-10))
    holdout_rms_error: float | None = Field(
        None, description="Relative error of whole scripted probe networks (not used in the fit)."
    )

    def kind(self, name: str) -> KindFit:
        """The fit of operator kind ``name``."""
        fit: KindFit = getattr(self, name)
        return fit


@dataclass(frozen=True)
class OperatorSample:
    """One timed probe: its features at ``batch`` and the measured seconds."""

    kind: str
    batch: int
    features: tuple[float, ...]
    """:data:`FEATURES` of the probe at ``batch``."""
    seconds: float


@dataclass(frozen=True)
class _Probe:
    kind: str
    module: nn.Module
    make_input: Callable[[int], torch.Tensor]
    flops_per_frame: float


class _DecoderProbe(nn.Module):
    """The box decoder fed from one tensor of ``classes + 4`` channels (heatmap, size, offset)."""

    def __init__(self, classes: int, max_detections: int) -> None:
        super().__init__()
        from pipeline.models.head import BoxDecoder

        self.classes = classes
        self.decoder = BoxDecoder(stride=8, max_detections=max_detections, class_ids=tuple(range(classes)))

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        heat, size, offset = torch.split(maps, [self.classes, 2, 2], dim=1)
        return self.decoder(heat, size, offset)  # type: ignore[no-any-return]


def _maps(batch: int, *, channels: int, grid: int) -> torch.Tensor:
    return torch.randn(batch, channels, grid, grid)


def _frames(batch: int, *, size: int) -> torch.Tensor:
    return torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8)


def _log_int(rng: np.random.Generator, low: int, high: int) -> int:
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))


_HEAD_OUTPUTS = (2, 4, 7, 10, 20)
"""Output channels of detection-head convolutions (sizes, offsets, class heatmaps of 4-20 classes)."""


def _channels(rng: np.random.Generator, low: int, high: int) -> int:
    """A layer width as model configs write them: a multiple of 8 between ``low`` and ``high``."""
    return max(8, 8 * round(_log_int(rng, low, high) / 8))


def sample_probes(count: int, rng: np.random.Generator) -> list[_Probe]:
    """``count`` probes per kind, with shapes from the ranges camfleet's model configs span.

    Convolutions take 3 channels (a stem) or a multiple of 8, and give a multiple of 8 or a head's few
    outputs; grids run from a stem's 120 px down to a last stage's 6.
    """
    from pipeline.models.blocks import Normalize

    probes: list[_Probe] = []
    for index in range(count):
        cin = 3 if index % 8 == 0 else _channels(rng, 8, 320)
        cout = int(rng.choice(_HEAD_OUTPUTS)) if index % 8 == 1 else _channels(rng, 8, 320)
        kernel = int(rng.choice([1, 3, 3]))
        stride = int(rng.choice([1, 1, 2]))
        grid = _log_int(rng, 6, 120)
        conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=kernel == 1)
        out_grid = (grid + 2 * (kernel // 2) - kernel) // stride + 1
        flops = 2.0 * cin * cout * kernel * kernel * out_grid * out_grid
        probes.append(
            _Probe("conv", conv, functools.partial(_maps, channels=cin, grid=grid), flops_per_frame=flops)
        )
    for index in range(count):
        channels, grid = _channels(rng, 8, 320), _log_int(rng, 6, 120)
        layer: nn.Module = nn.BatchNorm2d(channels).eval() if index % 2 == 0 else nn.ReLU()
        probes.append(
            _Probe("elementwise", layer, functools.partial(_maps, channels=channels, grid=grid), 0.0)
        )
    for _ in range(max(2, count // 4)):
        size = _log_int(rng, 64, 320)
        probes.append(
            _Probe(
                "elementwise",
                Normalize(),
                functools.partial(_frames, size=size),
                0.0,
            )
        )
    for _ in range(max(3, count // 2)):
        classes, grid, k = _log_int(rng, 2, 24), _log_int(rng, 6, 40), _log_int(rng, 8, 128)
        probes.append(
            _Probe(
                "decoder",
                _DecoderProbe(classes, k),
                functools.partial(_maps, channels=classes + 4, grid=grid),
                0.0,
            )
        )
    return probes


def _profiled_features(probe: _Probe, batch: int) -> tuple[float, ...]:
    """:data:`FEATURES` of ``probe`` at ``batch`` (summed over its layers), from camfleet's profiler."""
    from pipeline.models.profile import profile_module

    wrapped = nn.Sequential(probe.module)
    profile = profile_module("probe", wrapped, probe.make_input(batch), input_size=0)
    # Profiled at the probe's batch already: the features are the batch's.
    features = np.sum([layer_features(layer) for layer in profile.layers], axis=0)
    if probe.kind == "decoder":
        # The decoder's own ops run inside the leaf; the split that feeds it is a view, not an operator.
        features[0] = max(features[0] - 1, 1.0)
    return tuple(float(value) for value in features)


@torch.inference_mode()
def measure_operators(
    *, threads: int, batches: Sequence[int], per_kind: int, reps: int, seed: int = _SEED
) -> list[OperatorSample]:
    """Time every sampled probe at each batch (cut by :data:`_MAX_PROBE_FLOPS`) at ``threads`` threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    samples: list[OperatorSample] = []
    try:
        for probe in sample_probes(per_kind, np.random.default_rng(seed)):
            probe.module.eval()
            for batch in batches:
                if batch > 1 and probe.flops_per_frame * batch > _MAX_PROBE_FLOPS:
                    break
                inputs = probe.make_input(batch)
                features = _profiled_features(probe, batch)
                seconds = median_s(functools.partial(probe.module, inputs), reps=reps, warmup=2)
                samples.append(OperatorSample(probe.kind, batch, features, seconds))
    finally:
        torch.set_num_threads(previous)
    return samples


def fit_kind(samples: Sequence[OperatorSample]) -> KindFit:
    """Non-negative least squares on relative error: each row is divided by its measured time."""
    if not samples:
        return KindFit()
    features = np.array([s.features for s in samples], dtype=float)
    seconds = np.array([s.seconds for s in samples], dtype=float)
    scale = features.max(axis=0)
    scale[scale == 0] = 1.0
    design = features / scale / seconds[:, None]
    coef, _ = nnls(design, np.ones(len(samples)))
    coef = coef / scale
    predicted = features @ coef
    rms = float(np.sqrt(np.mean(((predicted - seconds) / seconds) ** 2)))
    return KindFit(
        per_kernel_s=float(coef[0]),
        per_flop_s=float(coef[1]),
        per_byte_s=float(coef[2]),
        per_weight_byte_s=float(coef[3]),
        narrow_in_s=float(coef[4]),
        narrow_out_s=float(coef[5]),
        samples=len(samples),
        rms_relative_error=rms,
    )


def fit_operator_model(samples: Sequence[OperatorSample], *, threads: int) -> OperatorModel:
    """One :class:`KindFit` per kind from ``samples``."""
    fits = {kind: fit_kind([s for s in samples if s.kind == kind]) for kind in KINDS}
    for kind, fit in fits.items():
        logger.info(
            "operator fit %s: %d samples, rms error %.1f%%", kind, fit.samples, 100 * fit.rms_relative_error
        )
    return OperatorModel(threads=threads, **fits)


class ProbeNet(nn.Module):
    """A small detector-shaped network with sampled widths: stem, residual stages, head, box decoder."""

    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__()
        from pipeline.models.blocks import ConvBNReLU, Normalize, ResidualBlock
        from pipeline.models.head import BoxDecoder, CenterNetHead

        widths = [_log_int(rng, 8, 160) for _ in range(3)]
        layers: list[nn.Module] = [Normalize(), ConvBNReLU(3, widths[0], stride=2)]
        for previous, width in zip(widths, widths[1:], strict=False):
            layers += [ConvBNReLU(previous, width, stride=2), ResidualBlock(width)]
        self.body = nn.Sequential(*layers)
        classes = _log_int(rng, 2, 20)
        self.head = CenterNetHead(widths[-1], num_classes=classes, width=_log_int(rng, 16, 96))
        self.decoder = BoxDecoder(stride=8, max_detections=32, class_ids=tuple(range(classes)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Detections ``[B, 32, 6]`` of uint8 frames ``[B, H, W, 3]``."""
        heat, size, offset = self.head(self.body(images))
        return self.decoder(heat, size, offset)  # type: ignore[no-any-return]


def predicted_layers_s(model: OperatorModel, net: nn.Module, images: torch.Tensor) -> float:
    """Seconds the operator model predicts for the layers of ``net`` on ``images`` (no call cost)."""
    from pipeline.models.profile import profile_module

    profile = profile_module("probe", net, images, input_size=int(images.shape[1]))
    return sum(model.kind(layer_kind(layer.kind)).seconds(layer_features(layer)) for layer in profile.layers)


@torch.inference_mode()
def measure_call_cost(
    model: OperatorModel, *, threads: int, nets: int, reps: int, seed: int = _SEED + 1
) -> OperatorModel:
    """Fit ``call_s`` from scripted probe networks and record how well whole networks are predicted.

    Each network is scripted (as the exporter does) and timed at batches 1 and 4; ``call_s`` is the median
    of measured minus the sum of predicted layers, and the remaining error is ``holdout_rms_error``.
    """
    rng = np.random.default_rng(seed)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows: list[tuple[float, float]] = []
    try:
        for _ in range(nets):
            net = ProbeNet(rng).eval()
            size = int(rng.choice([96, 128, 160]))
            scripted = torch.jit.script(net)
            for batch in (1, 4):
                images = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8)
                layers = predicted_layers_s(model, net, images)
                seconds = median_s(functools.partial(scripted, images), reps=reps, warmup=2)
                rows.append((seconds, layers))
    finally:
        torch.set_num_threads(previous)
    call_s = max(float(np.median([measured - layers for measured, layers in rows])), 0.0)
    errors = [((layers + call_s) - measured) / measured for measured, layers in rows]
    holdout = float(np.sqrt(np.mean(np.square(errors))))
    logger.info("probe networks: call %.2f ms, rms error %.1f%%", call_s * 1e3, 100 * holdout)
    return model.model_copy(update={"call_s": call_s, "holdout_rms_error": holdout})
