"""Per-layer and per-model cost profile: parameters, FLOPs, weight bytes, activation bytes, kernels.

FLOPs come from PyTorch's own counter (:class:`torch.utils.flop_counter.FlopCounterMode`, which counts
convolutions and matrix products); kernels are the ATen operators each layer dispatches, counted with a
:class:`~torch.utils._python_dispatch.TorchDispatchMode`. The planner builds its cost model from these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from pipeline.models.blocks import channels_after, stride_after
from pipeline.models.model_config import ModelConfig
from pipeline.models.registry import ModelInput, build_model, get_family


@dataclass(frozen=True)
class LayerProfile:
    """Cost of one leaf layer for one forward pass at the profiled batch size."""

    name: str
    kind: str
    flops: int
    params: int
    weight_bytes: int
    input_bytes: int
    activation_bytes: int
    kernels: int
    in_channels: int = 0
    """Input channels per group of a convolution (0 for other layers)."""
    out_channels: int = 0
    """Output channels of a convolution (0 for other layers)."""

    def narrow_flops(self) -> tuple[float, float]:
        """``(flops / in_channels, flops / out_channels)`` of a convolution, ``(0, 0)`` for other layers.

        A convolution's cost per FLOP grows as it narrows (vector lanes and register blocks run part
        empty); the planner charges these two terms on top of its FLOPs.
        """
        if not self.in_channels or not self.out_channels:
            return 0.0, 0.0
        return self.flops / self.in_channels, self.flops / self.out_channels


@dataclass(frozen=True)
class ModelProfile:
    """Cost of one model for one forward pass at ``batch`` frames of ``input_size`` pixels."""

    name: str
    input_size: int
    batch: int
    params: int
    flops: int
    weight_bytes: int
    activation_bytes: int
    input_bytes: int
    output_bytes: int
    kernels: int
    layers: tuple[LayerProfile, ...] = field(repr=False)

    def to_dict(self, *, include_layers: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; layers only when asked for."""
        data = asdict(self)
        data["layers"] = [asdict(layer) for layer in self.layers] if include_layers else len(self.layers)
        return data


class _KernelCounter(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Counts ATen operators, attributing each to the innermost module currently running."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.stack: list[str] = []
        self.counts: dict[str, int] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if self.stack and func not in (torch.ops.aten.detach.default,):
            self.counts[self.stack[-1]] = self.counts.get(self.stack[-1], 0) + 1
        return func(*args, **(kwargs or {}))


def _tensor_bytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def example_input(name: str, config: ModelConfig, batch: int) -> torch.Tensor:
    """A deterministic input batch for family ``name``: uint8 frames, or trunk features for heads."""
    generator = torch.Generator().manual_seed(0)
    size = config.input_size
    if get_family(name).input is ModelInput.IMAGES:
        return torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, generator=generator)
    shared = config.shared
    channels = channels_after(shared.backbone, shared.branch_point)
    grid = size // stride_after(shared.backbone, shared.branch_point)
    return torch.randn(batch, channels, grid, grid, generator=generator)


def profile_module(name: str, module: nn.Module, inputs: torch.Tensor, *, input_size: int) -> ModelProfile:
    """Profile one forward pass of ``module`` on ``inputs``."""
    leaves = {n: m for n, m in module.named_modules() if not list(m.children())}
    prefix = type(module).__name__
    io: dict[str, tuple[int, int]] = {}
    counter = _KernelCounter()
    handles = []
    for layer_name, leaf in leaves.items():

        def pre_hook(_m: nn.Module, _args: Any, layer_name: str = layer_name) -> None:
            counter.stack.append(layer_name)

        def post_hook(_m: nn.Module, args: Any, output: Any, layer_name: str = layer_name) -> None:
            counter.stack.pop()
            io[layer_name] = (_tensor_bytes(args), _tensor_bytes(output))

        handles.append(leaf.register_forward_pre_hook(pre_hook))
        handles.append(leaf.register_forward_hook(post_hook))
    flop_counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), flop_counter, counter:
            output = module(inputs)
    finally:
        for handle in handles:
            handle.remove()
    flop_counts = flop_counter.get_flop_counts()
    layers = []
    for layer_name, leaf in leaves.items():
        if layer_name not in io:  # defined but not called in forward
            continue
        own = list(leaf.parameters(recurse=False)) + list(leaf.buffers(recurse=False))
        conv = isinstance(leaf, nn.Conv2d)
        layers.append(
            LayerProfile(
                name=layer_name,
                kind=type(leaf).__name__,
                flops=int(sum(flop_counts.get(f"{prefix}.{layer_name}", {}).values())),
                params=sum(p.numel() for p in leaf.parameters(recurse=False)),
                weight_bytes=sum(t.numel() * t.element_size() for t in own),
                input_bytes=io[layer_name][0],
                activation_bytes=io[layer_name][1],
                kernels=counter.counts.get(layer_name, 0),
                in_channels=leaf.in_channels // leaf.groups if conv else 0,
                out_channels=leaf.out_channels if conv else 0,
            )
        )
    return ModelProfile(
        name=name,
        input_size=input_size,
        batch=int(inputs.shape[0]),
        params=sum(p.numel() for p in module.parameters()),
        flops=int(flop_counter.get_total_flops()),
        weight_bytes=sum(layer.weight_bytes for layer in layers),
        activation_bytes=sum(layer.activation_bytes for layer in layers),
        input_bytes=_tensor_bytes(inputs),
        output_bytes=_tensor_bytes(output),
        kernels=sum(layer.kernels for layer in layers),
        layers=tuple(layers),
    )


def profile_family(name: str, config: ModelConfig, *, batch: int = 1, device: str = "cpu") -> ModelProfile:
    """Build family ``name`` from ``config`` and profile it at ``batch`` frames.

    ``device="meta"`` counts the same FLOPs, bytes and operators from shapes alone, without computing
    anything (what the planner uses, so a plan takes milliseconds per model).

    Raises:
        ValueError: if ``batch`` is not positive.
        ModelError: if the family is unknown.
    """
    if batch <= 0:
        raise ValueError(f"batch must be positive, got {batch}")
    module = build_model(name, config).to(device)
    inputs = example_input(name, config, batch).to(device)
    return profile_module(name, module, inputs, input_size=config.input_size)
