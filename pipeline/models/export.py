"""Export the model families into a Triton model repository.

For every family: build it from the model config, load trained weights or seed random ones, script it
with TorchScript and save ``<repo>/<name>/1/model.pt``. For every model, the merge model and every
ensemble: write ``config.pbtxt``, ``configs/gpu.pbtxt`` and the ``1/model.py`` shim (see
:mod:`pipeline.serving.repository`) and ``1/export.json``, which tells clients (and the model itself, for its
warm-up) the input size and the config the weights were built from.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.errors import ModelError
from pipeline.models.blocks import stride_after
from pipeline.models.designs import ENSEMBLES, MERGE_MODEL
from pipeline.models.model_config import ModelConfig
from pipeline.models.registry import ModelInput, build_model, get_family, list_families
from pipeline.serving.repository import (
    DETECTIONS,
    IMAGES,
    VERSION,
    repository_models,
    spatial_multiple,
    write_model_files,
)

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.pt"
EXPORT_INFO_FILE = "export.json"
RANDOM_SEED = 0
"""Base seed of random weights; each family adds a hash of its name so families differ."""


def select_models(models: Sequence[str] | None) -> list[str]:
    """The repository models to export: all when ``models`` is empty, else those plus their steps.

    An ensemble brings the models it calls, so ``--model shared_day`` also exports ``trunk`` and
    ``head_day``.

    Raises:
        ModelError: if a name is not a repository model (the message lists the known ones).
    """
    known = repository_models()
    if not models:
        return known
    wanted: set[str] = set()
    for name in models:
        if name not in known:
            raise ModelError(f"unknown model {name!r}; known: {', '.join(known)}")
        wanted.add(name)
        if name in ENSEMBLES:
            wanted.update(ENSEMBLES[name].steps)
    return [name for name in known if name in wanted]


def random_seed(name: str) -> int:
    """The seed of family ``name``'s random weights (stable across runs and machines)."""
    return RANDOM_SEED + zlib.crc32(name.encode())


def build_weighted_model(name: str, config: ModelConfig, weights: Path | None = None) -> nn.Module:
    """Build family ``name`` in eval mode with the weights from ``<weights>/<name>.pt`` or seeded random ones.

    Raises:
        ModelError: if the weights file is missing, unreadable or does not fit the family.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_seed(name))
        model = build_model(name, config)
    if weights is None:
        return model
    path = weights / f"{name}.pt"
    if not path.is_file():
        raise ModelError(
            f"no weights for {name!r}: {path} is missing (train it, or export without --weights)"
        )
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelError(f"cannot read weights {path}: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError(f"{path} holds a {type(state).__name__}, not a state dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"weights {path} do not fit {name!r} under this model config: {exc}") from exc
    return model.eval()


def input_side(model_input: str, config: ModelConfig) -> int | None:
    """Height and width of one frame's input: the frame's, or the trunk's features'; None for the merge."""
    if model_input == IMAGES:
        return config.input_size
    if model_input == ModelInput.FEATURES.value:
        return config.input_size // stride_after(config.shared.backbone, config.shared.branch_point)
    return None


def export_info(name: str, config: ModelConfig, weights: Path | None) -> dict[str, Any]:
    """The contents of ``<name>/1/export.json``: what a client needs to call the model."""
    if name in ENSEMBLES:
        model_input = IMAGES
    elif name == MERGE_MODEL:
        model_input = DETECTIONS
    else:
        model_input = get_family(name).input.value
    weighted = name in list_families()
    return {
        "name": name,
        "input": model_input,
        "input_size": config.input_size,
        "input_side": input_side(model_input, config),
        "spatial_multiple": spatial_multiple(name, config),
        "max_detections": config.head.max_detections,
        "weights": (str(weights / f"{name}.pt") if weights else f"random(seed={random_seed(name)})")
        if weighted
        else None,
        "model_config": config.model_dump(mode="json"),
    }


def export_repository(
    config: ModelConfig,
    repository: Path,
    *,
    weights: Path | None = None,
    models: Sequence[str] | None = None,
) -> list[Path]:
    """Export models into a Triton repository.

    Args:
        config: sizes of every family (and the input size written to ``export.json``).
        repository: the repository folder (created if missing).
        weights: folder of trained state dicts ``<name>.pt``; seeded random weights when ``None``.
        models: repository models to export (ensembles bring their steps); all when ``None`` or empty.

    Returns:
        The folder of every exported model, in repository order.

    Raises:
        ModelError: if a model is unknown, or its weights are missing or do not fit.
    """
    names = select_models(models)
    # Build (and check the weights of) every family before writing anything, so a bad weights folder
    # leaves the repository as it was.
    built = {name: build_weighted_model(name, config, weights) for name in names if name in list_families()}
    written = []
    for name in names:
        folder = write_model_files(name, config, repository)
        version_dir = folder / VERSION
        if name in built:
            try:
                scripted = torch.jit.script(built[name])
            except RuntimeError as exc:
                raise ModelError(f"cannot script {name!r} with TorchScript: {exc}") from exc
            scripted.save(str(version_dir / WEIGHTS_FILE))  # type: ignore[no-untyped-call]
        info = export_info(name, config, weights)
        (version_dir / EXPORT_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        logger.info("exported %s into %s", name, folder)
        written.append(folder)
    return written
