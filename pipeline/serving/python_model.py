"""The python-backend models behind every non-ensemble entry of ``triton_models/``.

Each ``triton_models/<name>/1/model.py`` imports one class from here as ``TritonPythonModel``:
:class:`TorchScriptModel` for the registry families (weights in ``<name>/1/model.pt``) and
:class:`MergeDetectionsModel` for ``merge_detections``. Both run every request of a dynamic batch
in one forward pass, answer each request exactly once, and answer a malformed request with
``INVALID_ARG`` while the rest of the batch succeeds.

Every model instance is its own stub process, so this module imports only torch and the standard
library. Tensors cross the stub through DLPack in both directions: a numpy output of a python model
reached the next ensemble step as 0 bytes on a GPU machine (see DESIGN.md), and DLPack keeps GPU
tensors on the GPU.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
import torch.utils.dlpack
from torch.utils.dlpack import from_dlpack

logger = logging.getLogger(__name__)

WARM_UP_BATCH = 4
"""The larger batch a TorchScript model runs once at start-up, after two single frames."""

_DTYPES: dict[str, torch.dtype] = {"TYPE_UINT8": torch.uint8, "TYPE_FP32": torch.float32}


class InvalidRequest(ValueError):
    """A request whose tensors do not fit the model (answered with ``INVALID_ARG``)."""


def merge_detections(parts: list[torch.Tensor], max_detections: int) -> torch.Tensor:
    """Keep the ``max_detections`` best rows (by score, column 4) of several ``[B, K_i, 6]`` tensors.

    Args:
        parts: per-group detections, each ``[B, K_i, 6]``.
        max_detections: rows to keep per frame (zero rows pad when there are fewer).

    Returns:
        ``[B, max_detections, 6]``, best score first.
    """
    rows = torch.cat(parts, dim=1)
    k = min(max_detections, rows.shape[1])
    _, order = torch.topk(rows[:, :, 4], k, dim=1)
    best = torch.gather(rows, 1, order.unsqueeze(2).expand(-1, -1, rows.shape[2]))
    if k < max_detections:
        best = torch.nn.functional.pad(best, (0, 0, 0, max_detections - k))
    return best


class _TensorSpec:
    """One input or output of the model config: name, dtype and dims without the batch dimension."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.name: str = entry["name"]
        self.dtype = _DTYPES[entry["data_type"]]
        self.dims: tuple[int, ...] = tuple(int(d) for d in entry["dims"])

    def zeros(self, batch: int, side: int, device: torch.device) -> torch.Tensor:
        """A zero batch of this input whose variable dimensions (height and width) are ``side``."""
        shape = [side if d < 0 else d for d in self.dims]
        return torch.zeros(batch, *shape, dtype=self.dtype, device=device)

    def check(self, tensor: torch.Tensor, spatial_multiple: int) -> None:
        """Raise :class:`InvalidRequest` unless ``tensor`` is a non-empty batch that fits this spec."""
        if tensor.dtype != self.dtype:
            raise InvalidRequest(f"input {self.name} must be {self.dtype}, got {tensor.dtype}")
        expected = ", ".join("B" if d < 0 else str(d) for d in (-1, *self.dims))
        if tensor.dim() != len(self.dims) + 1 or any(
            want >= 0 and got != want for want, got in zip(self.dims, tensor.shape[1:], strict=True)
        ):
            raise InvalidRequest(f"input {self.name} must be [{expected}], got {list(tensor.shape)}")
        if tensor.shape[0] == 0:
            raise InvalidRequest(f"input {self.name} has an empty batch")
        spatial = [size for want, size in zip(self.dims, tensor.shape[1:], strict=True) if want < 0]
        if any(size == 0 or size % spatial_multiple for size in spatial):
            raise InvalidRequest(
                f"input {self.name}: height and width must be positive multiples of {spatial_multiple}, "
                f"got shape {list(tensor.shape)}"
            )


class _BatchedModel:
    """Triton's python-model contract around a ``forward(*inputs) -> output`` torch callable."""

    def initialize(self, args: dict[str, str]) -> None:
        """Read the model config, pick the device, set torch threads and load the model once."""
        # Only the Triton stub can import it; importing it lazily keeps this module importable in tests.
        self._pb: Any = importlib.import_module("triton_python_backend_utils")
        config = json.loads(args["model_config"])
        self._inputs = [_TensorSpec(entry) for entry in config["input"]]
        self._output = _TensorSpec(config["output"][0])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self._parameters = parameters
        self._spatial_multiple = int(parameters.get("spatial_multiple", "1"))
        torch.set_num_threads(max(1, int(parameters.get("torch_threads", "1"))))
        self._device = torch.device(
            f"cuda:{args['model_instance_device_id']}" if args["model_instance_kind"] == "GPU" else "cpu"
        )
        self._name = args["model_name"]
        self._setup(Path(args["model_repository"]) / args["model_version"])
        self._log_info(f"{self._name} ready on {self._device}")

    def _log_info(self, message: str) -> None:
        """Write ``message`` to Triton's own log (the stub's ``logging`` has no handler there)."""
        self._pb.Logger.log_info(message)

    def _setup(self, version_dir: Path) -> None:
        """Load whatever the model needs from its version folder."""

    def _forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def _read(self, request: Any) -> list[torch.Tensor]:
        tensors = []
        for spec in self._inputs:
            tensor = self._pb.get_input_tensor_by_name(request, spec.name)
            if tensor is None:
                raise InvalidRequest(f"input {spec.name} is missing")
            value = from_dlpack(tensor.to_dlpack())
            spec.check(value, self._spatial_multiple)
            tensors.append(value)
        return tensors

    def execute(self, requests: list[Any]) -> list[Any]:
        """Answer each request once; requests of the same shape share one forward pass."""
        responses: list[Any] = [None] * len(requests)
        groups: dict[tuple[tuple[int, ...], ...], list[tuple[int, list[torch.Tensor]]]] = {}
        for index, request in enumerate(requests):
            try:
                tensors = self._read(request)
            except InvalidRequest as exc:
                responses[index] = self._error(str(exc), self._pb.TritonError.INVALID_ARG)
                continue
            key = tuple(tuple(t.shape[1:]) for t in tensors)
            groups.setdefault(key, []).append((index, tensors))
        for members in groups.values():
            self._run_group(members, responses)
        return responses

    def _run_group(self, members: list[tuple[int, list[torch.Tensor]]], responses: list[Any]) -> None:
        sizes = [tensors[0].shape[0] for _, tensors in members]
        try:
            with torch.inference_mode():
                batch = [
                    torch.cat([tensors[i] for _, tensors in members]).to(self._device)
                    for i in range(len(self._inputs))
                ]
                output = self._forward(batch).contiguous()
        except RuntimeError as exc:
            logger.exception("%s failed on a batch of %d", self._name, sum(sizes))
            for index, _ in members:
                responses[index] = self._error(f"{self._name} failed: {exc}", self._pb.TritonError.INTERNAL)
            return
        for (index, _), part in zip(members, torch.split(output, sizes), strict=True):
            capsule = torch.utils.dlpack.to_dlpack(part)  # type: ignore[attr-defined]  # torch re-exports it
            tensor = self._pb.Tensor.from_dlpack(self._output.name, capsule)
            responses[index] = self._pb.InferenceResponse(output_tensors=[tensor])

    def _error(self, message: str, code: Any) -> Any:
        return self._pb.InferenceResponse(error=self._pb.TritonError(f"{self._name}: {message}", code))

    def finalize(self) -> None:
        """Called once when Triton unloads the model."""
        self._log_info(f"{self._name} unloaded")


class TorchScriptModel(_BatchedModel):
    """A registry family exported as TorchScript to ``<model>/1/model.pt``."""

    def _setup(self, version_dir: Path) -> None:
        path = version_dir / "model.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `camfleet models export` first")
        try:
            self._module = torch.jit.load(str(path), map_location=self._device)  # type: ignore[no-untyped-call]
        except RuntimeError as exc:
            raise RuntimeError(
                f"{path} is not a TorchScript model; re-run `camfleet models export`: {exc}"
            ) from exc
        self._warm_up(version_dir / "export.json")

    def _warm_up(self, export_record: Path) -> None:
        """Run the module on zero frames before Triton reports the model ready.

        The first calls of a TorchScript module profile and optimise its graph, and ran up to 7x slower
        than later ones in Triton: live requests would pay for them, and the service times the batcher
        sizes its requests from would be stretched by them for seconds. Two calls at one frame and one
        at ``WARM_UP_BATCH`` take that cost here. Without an input side in the export record it is skipped.
        """
        side = json.loads(export_record.read_text()).get("input_side") if export_record.is_file() else None
        if side is None:
            return
        started = time.perf_counter()
        with torch.inference_mode():
            for batch in (1, 1, WARM_UP_BATCH):
                self._forward([spec.zeros(batch, int(side), self._device) for spec in self._inputs])
        self._log_info(f"{self._name} warmed up in {time.perf_counter() - started:.2f} s")

    def _forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        result: torch.Tensor = self._module(inputs[0])
        return result


class MergeDetectionsModel(_BatchedModel):
    """``merge_detections``: the top-K rows of every ``DETECTIONS_<GROUP>`` input, by score."""

    def _forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return merge_detections(inputs, self._output.dims[0])


class NullDetector(_BatchedModel):
    """A model that computes nothing and answers every frame with the same ``K`` boxes.

    ``camfleet plan calibrate`` serves it under a design's model name to measure everything around the
    model (decode, workers, transport, Triton, tracking, events) without running any architecture. Its
    boxes sit on a fixed grid: the first ``null_detections`` rows (a config parameter; default all) score
    0.5 and are tracked, the rest are padding. A model whose output is not ``[K, 6]`` detections (a
    trunk's features) answers zeros of its shape.
    """

    def _setup(self, version_dir: Path) -> None:
        self._detects = len(self._output.dims) == 2 and self._output.dims[1] == 6
        rows = self._output.dims[0] if self._detects else 1
        kept = int(self._parameters.get("null_detections", rows))
        side = max(1, int(rows**0.5 + 0.999))
        detections = torch.zeros(rows, 6)
        for index in range(rows):
            x, y = (index % side) / side, (index // side) / side
            score = 0.5 if index < kept else 0.0
            detections[index] = torch.tensor([x, y, x + 0.5 / side, y + 0.5 / side, score, index % 20])
        self._unit_rows = detections

    def _forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        images = inputs[0]
        if not self._detects:
            # Variable feature dims follow the input frames, downscaled by the model's spatial multiple.
            grid = max(1, int(images.shape[1]) // self._spatial_multiple)
            shape = [grid if d < 0 else d for d in self._output.dims]
            return torch.zeros(images.shape[0], *shape, dtype=self._output.dtype)
        rows = self._unit_rows.clone()
        if images.dim() == 4:  # frames: boxes in input pixels; features: any scale does
            rows[:, :4] *= float(images.shape[1])
        return rows.unsqueeze(0).expand(images.shape[0], -1, -1)
