"""Resumable training checkpoints and the saved weights (one state dict per registry name).

The checkpoint (models, optimizer, step, loss history) lives in ``<out>/checkpoints/<plan>.ckpt``; the
weights that export loads live in ``<out>/<registry_name>.pt``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.errors import ModelError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    """A training state read back from disk."""

    step: int
    models: dict[str, dict[str, torch.Tensor]]
    optimizer: dict[str, Any]
    losses: list[float]


def checkpoint_path(out: Path, plan: str) -> Path:
    """Where the checkpoint of ``plan`` lives under the output folder ``out``."""
    return out / "checkpoints" / f"{plan}.ckpt"


def weights_path(weights_dir: Path, model: str) -> Path:
    """Where the state dict of registry name ``model`` lives."""
    return weights_dir / f"{model}.pt"


def _atomic_save(obj: object, path: Path) -> None:
    # Write then rename, so an interrupted run never leaves a truncated file to resume from.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(
    path: Path,
    *,
    plan: str,
    step: int,
    models: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    losses: list[float],
) -> None:
    """Save everything needed to continue training ``plan`` after ``step`` steps."""
    _atomic_save(
        {
            "plan": plan,
            "step": step,
            "models": {name: model.state_dict() for name, model in models.items()},
            "optimizer": optimizer.state_dict(),
            "losses": losses,
        },
        path,
    )
    logger.debug("saved checkpoint %s at step %d", path, step)


def load_checkpoint(path: Path, *, plan: str) -> Checkpoint:
    """Read the checkpoint at ``path``, written for ``plan``.

    Raises:
        ModelError: if the file is unreadable or was written for another plan.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise ModelError(f"cannot read checkpoint {path}: {exc}; delete it to start afresh") from exc
    if state.get("plan") != plan:
        raise ModelError(f"checkpoint {path} is for {state.get('plan')!r}, not {plan!r}")
    return Checkpoint(
        step=int(state["step"]), models=state["models"], optimizer=state["optimizer"], losses=state["losses"]
    )


def save_weights(weights_dir: Path, models: dict[str, nn.Module]) -> list[Path]:
    """Write one ``<registry_name>.pt`` state dict per model; returns the paths."""
    paths = []
    for name, model in models.items():
        path = weights_path(weights_dir, name)
        _atomic_save(model.state_dict(), path)
        paths.append(path)
    return paths


def load_weights(model: nn.Module, weights_dir: Path, name: str) -> nn.Module:
    """Load ``<weights_dir>/<name>.pt`` into ``model`` (strictly) and return it.

    Raises:
        ModelError: if the file is missing or does not fit the model built from the current config.
    """
    path = weights_path(weights_dir, name)
    if not path.is_file():
        raise ModelError(f"no weights for {name!r} at {path}; train them with `camfleet train`")
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except RuntimeError as exc:
        raise ModelError(
            f"weights {path} do not fit {name!r} built from this model config (trained with another?): {exc}"
        ) from exc
    return model
