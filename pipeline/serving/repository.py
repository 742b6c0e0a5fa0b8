"""The Triton model repository layout: ``config.pbtxt`` text for every model, merge and ensemble.

Every registry family and :data:`~pipeline.models.designs.MERGE_MODEL` is a python-backend model (the
implementation is :mod:`pipeline.serving.python_model`); every entry of
:data:`~pipeline.models.designs.ENSEMBLES` is a Triton ensemble. Each python model gets ``config.pbtxt``
(CPU) and ``configs/gpu.pbtxt`` (picked with ``tritonserver --model-config-name=gpu``). Ensembles get
only ``config.pbtxt``: Triton falls back to it when a model has no ``configs/<name>.pbtxt``
(``model_configuration.md``, "Custom Model Configuration"), and an ensemble has no instances to tune.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ModelError
from pipeline.models.blocks import channels_after, stride_after
from pipeline.models.classes import GROUPS
from pipeline.models.designs import ENSEMBLES, MERGE_MODEL, EnsembleSpec
from pipeline.models.model_config import ModelConfig
from pipeline.models.registry import ModelInput, get_family, list_families

logger = logging.getLogger(__name__)

IMAGES = "IMAGES"
FEATURES = "FEATURES"
DETECTIONS = "DETECTIONS"
VERSION = "1"
CONFIG_FILE = "config.pbtxt"
GPU_CONFIG_FILE = "configs/gpu.pbtxt"
SHIM_FILE = f"{VERSION}/model.py"
MAX_BATCH_SIZE = 64


@dataclass(frozen=True)
class HardwareProfile:
    """Instance and batching settings of one ``--model-config-name`` variant."""

    kind: str
    count: int
    max_queue_delay_us: int
    preferred_batch_sizes: tuple[int, ...]
    torch_threads: int
    cpu_only_inputs: bool


CPU = HardwareProfile("KIND_CPU", 1, 2000, (), torch_threads=1, cpu_only_inputs=True)
"""Default: one instance per model; one torch thread, since many model processes share few cores.

Several camera workers send their own micro-batches; a 2 ms queue delay lets Triton merge the requests of
workers that arrive together (CPU inference of one batch takes tens of ms, so 2 ms costs little), and no
preferred size: on a CPU any merged batch is worth running at once."""

GPU = HardwareProfile("KIND_GPU", 2, 1000, (8, 16, 32, 64), torch_threads=2, cpu_only_inputs=False)
"""``configs/gpu.pbtxt``: two instances overlap copies and compute; inputs stay on the GPU in ensembles.

The workers' micro-batches are small (a worker holds a few cameras), so Triton merges them up to a
preferred size within 1 ms: on a GPU the per-call cost, not the FLOPs, decides at small batches."""


def group_input_name(group: str) -> str:
    """Name of the merge model's input that carries the detections of class ``group``."""
    return f"{DETECTIONS}_{group.upper()}"


def model_group(model: str) -> str:
    """The class group a class-group model (``specialist_people``, ``head_people``) serves.

    Raises:
        ModelError: if ``model`` does not end in a class group name.
    """
    for group in GROUPS:
        if model.endswith(f"_{group}"):
            return group
    raise ModelError(f"model {model!r} serves no class group ({', '.join(GROUPS)}); it cannot be merged")


def repository_models() -> list[str]:
    """Every model in the repository: registry families, the merge model, then the ensembles."""
    return [*list_families(), MERGE_MODEL, *ENSEMBLES]


def spatial_multiple(name: str, config: ModelConfig) -> int:
    """What the height and width of ``name``'s input must be a multiple of (1 for the merge model).

    Models that feed the shared trunk's heads need the whole shared backbone's stride, so that every
    head's feature map has whole cells.
    """
    shared = config.shared.backbone
    if name == MERGE_MODEL:
        return 1
    if name in ENSEMBLES:
        return shared.output_stride if ENSEMBLES[name].trunk else config.specialist.output_stride
    if name == "monolith":
        return config.monolith.output_stride
    if name == "trunk":
        return shared.output_stride
    if get_family(name).input is ModelInput.FEATURES:
        return shared.output_stride // stride_after(shared, config.shared.branch_point)
    return config.specialist.output_stride


def _tensor(name: str, data_type: str, dims: tuple[int, ...]) -> str:
    shape = ", ".join(map(str, dims))
    return f'  {{\n    name: "{name}"\n    data_type: {data_type}\n    dims: [ {shape} ]\n  }}'


def _tensors(field: str, tensors: list[str]) -> str:
    return f"{field} [\n" + ",\n".join(tensors) + "\n]\n"


def _parameters(values: dict[str, str]) -> str:
    return "".join(
        f'parameters {{\n  key: "{key}"\n  value: {{ string_value: "{value}" }}\n}}\n'
        for key, value in values.items()
    )


def _io(name: str, config: ModelConfig) -> tuple[list[str], list[str]]:
    detections = [_tensor(DETECTIONS, "TYPE_FP32", (config.head.max_detections, 6))]
    if name == MERGE_MODEL:
        inputs = [_tensor(group_input_name(g), "TYPE_FP32", (config.head.max_detections, 6)) for g in GROUPS]
        return inputs, detections
    images = [_tensor(IMAGES, "TYPE_UINT8", (-1, -1, 3))]
    if name in ENSEMBLES:
        return images, detections
    shared = config.shared
    channels = channels_after(shared.backbone, shared.branch_point)
    features = [_tensor(FEATURES, "TYPE_FP32", (channels, -1, -1))]
    if name == "trunk":
        return images, features
    return (features if get_family(name).input is ModelInput.FEATURES else images), detections


def python_model_config(name: str, config: ModelConfig, profile: HardwareProfile = CPU) -> str:
    """``config.pbtxt`` text of a python-backend model (a registry family or the merge model).

    Raises:
        ModelError: if ``name`` is neither a registry family nor the merge model.
    """
    if name != MERGE_MODEL:
        get_family(name)
    inputs, outputs = _io(name, config)
    preferred = (
        f"  preferred_batch_size: [ {', '.join(map(str, profile.preferred_batch_sizes))} ]\n"
        if profile.preferred_batch_sizes
        else ""
    )
    delay = profile.max_queue_delay_us
    parameters = {
        "torch_threads": str(profile.torch_threads),
        "spatial_multiple": str(spatial_multiple(name, config)),
        "FORCE_CPU_ONLY_INPUT_TENSORS": "yes" if profile.cpu_only_inputs else "no",
    }
    return (
        f'name: "{name}"\nbackend: "python"\nmax_batch_size: {MAX_BATCH_SIZE}\n'
        + _tensors("input", inputs)
        + _tensors("output", outputs)
        + f"dynamic_batching {{\n{preferred}  max_queue_delay_microseconds: {delay}\n}}\n"
        + f"instance_group [\n  {{\n    kind: {profile.kind}\n    count: {profile.count}\n  }}\n]\n"
        + _parameters(parameters)
    )


def _step(model: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    maps = "".join(
        f'      {kind} {{\n        key: "{key}"\n        value: "{value}"\n      }}\n'
        for kind, mapping in (("input_map", inputs), ("output_map", outputs))
        for key, value in mapping.items()
    )
    return f'    {{\n      model_name: "{model}"\n      model_version: -1\n{maps}    }}'


def ensemble_steps(spec: EnsembleSpec) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """Each step of an ensemble as ``(model, input_map, output_map)``; map keys are the model's tensors.

    The trunk's ``FEATURES`` feed every parallel model; with several parallel models their
    ``DETECTIONS`` go to the merge model's ``DETECTIONS_<GROUP>`` inputs.
    """
    source = "features" if spec.trunk else IMAGES
    steps = [(spec.trunk, {IMAGES: IMAGES}, {FEATURES: source})] if spec.trunk else []
    parallel_input = FEATURES if spec.trunk else IMAGES
    if not spec.merges:
        return [*steps, (spec.parallel[0], {parallel_input: source}, {DETECTIONS: DETECTIONS})]
    merge_inputs: dict[str, str] = {}
    for model in spec.parallel:
        internal = f"detections_{model}"
        steps.append((model, {parallel_input: source}, {DETECTIONS: internal}))
        merge_inputs[group_input_name(model_group(model))] = internal
    if sorted(merge_inputs) != sorted(group_input_name(g) for g in GROUPS):
        raise ModelError(f"ensemble {spec.name!r} must run exactly one model per class group {GROUPS}")
    return [*steps, (MERGE_MODEL, merge_inputs, {DETECTIONS: DETECTIONS})]


def ensemble_config(name: str, config: ModelConfig) -> str:
    """``config.pbtxt`` text of ensemble ``name``.

    Raises:
        ModelError: if ``name`` is not in :data:`~pipeline.models.designs.ENSEMBLES`.
    """
    if name not in ENSEMBLES:
        raise ModelError(f"unknown ensemble {name!r}; known: {', '.join(ENSEMBLES)}")
    inputs, outputs = _io(name, config)
    steps = ",\n".join(_step(*step) for step in ensemble_steps(ENSEMBLES[name]))
    return (
        f'name: "{name}"\nplatform: "ensemble"\nmax_batch_size: {MAX_BATCH_SIZE}\n'
        + _tensors("input", inputs)
        + _tensors("output", outputs)
        + f"ensemble_scheduling {{\n  step [\n{steps}\n  ]\n}}\n"
    )


def shim_source(name: str) -> str:
    """The ``1/model.py`` of a python model: it only imports the implementation from the package."""
    cls = "MergeDetectionsModel" if name == MERGE_MODEL else "TorchScriptModel"
    return (
        f'"""Triton python-backend entry point of `{name}` (see pipeline/serving/python_model.py)."""\n\n'
        f"from pipeline.serving.python_model import {cls} as TritonPythonModel\n\n"
        '__all__ = ["TritonPythonModel"]\n'
    )


def model_files(name: str, config: ModelConfig) -> dict[str, str]:
    """Every committed text file of model ``name``, by path relative to its folder.

    Raises:
        ModelError: if ``name`` is not a repository model.
    """
    if name in ENSEMBLES:
        return {CONFIG_FILE: ensemble_config(name, config)}
    return {
        CONFIG_FILE: python_model_config(name, config, CPU),
        GPU_CONFIG_FILE: python_model_config(name, config, GPU),
        SHIM_FILE: shim_source(name),
    }


def write_model_files(name: str, config: ModelConfig, repository: Path) -> Path:
    """Write the config files (and shim) of model ``name`` into ``repository``; return its folder."""
    folder = repository / name
    for relative, text in model_files(name, config).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (folder / VERSION).mkdir(parents=True, exist_ok=True)
    logger.debug("wrote Triton config of %s into %s", name, folder)
    return folder
