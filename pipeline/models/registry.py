"""Registry of model families: a name -> builder table that refuses duplicates.

Builders register with :func:`register_family`; callers look them up with :func:`get_family` and
:func:`list_families`, which import :mod:`pipeline.models.families` (and so torch) on first use.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.errors import ModelError
from pipeline.models.model_config import ModelConfig

if TYPE_CHECKING:
    from torch import nn

Builder = Callable[[ModelConfig], "nn.Module"]


class ModelInput(enum.Enum):
    """What a model takes: uint8 frames or the shared trunk's float features."""

    IMAGES = "IMAGES"
    FEATURES = "FEATURES"


@dataclass(frozen=True)
class FamilySpec:
    """A registered family: its name (also its Triton model name), input kind and builder."""

    name: str
    input: ModelInput
    description: str
    build: Builder


_FAMILIES: dict[str, FamilySpec] = {}


def _load_families() -> None:
    """Import the module whose decorators fill the registry (a no-op after the first call)."""
    importlib.import_module("pipeline.models.families")


def register_family(name: str, model_input: ModelInput, description: str) -> Callable[[Builder], Builder]:
    """Decorator that registers a builder under ``name``.

    Raises:
        ModelError: if ``name`` is already registered.
    """

    def decorate(build: Builder) -> Builder:
        if name in _FAMILIES:
            raise ModelError(f"model family {name!r} is already registered")
        _FAMILIES[name] = FamilySpec(name=name, input=model_input, description=description, build=build)
        return build

    return decorate


def get_family(name: str) -> FamilySpec:
    """Return the family registered as ``name``.

    Raises:
        ModelError: if no such family exists (the message lists the known ones).
    """
    _load_families()
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ModelError(f"unknown model family {name!r}; known: {', '.join(sorted(_FAMILIES))}") from None


def list_families() -> list[str]:
    """Names of all registered families, in registration order."""
    _load_families()
    return list(_FAMILIES)


def build_model(name: str, config: ModelConfig) -> nn.Module:
    """Build family ``name`` from ``config`` in eval mode."""
    return get_family(name).build(config).eval()
