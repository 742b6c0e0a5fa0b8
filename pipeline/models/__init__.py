"""Model families (monolith, specialists, shared trunk and heads), their registry, profile and export.

Names are loaded on first use, so that light modules of this package (``classes``, ``designs``,
``model_config``) can be imported by the scheduler and the camera actors without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CLASS_GROUPS": "pipeline.models.classes",
    "CLASS_NAMES": "pipeline.models.classes",
    "CONDITIONS": "pipeline.models.classes",
    "GROUPS": "pipeline.models.classes",
    "ModelConfig": "pipeline.models.model_config",
    "load_model_config": "pipeline.models.model_config",
    "FamilySpec": "pipeline.models.registry",
    "ModelInput": "pipeline.models.registry",
    "build_model": "pipeline.models.registry",
    "get_family": "pipeline.models.registry",
    "list_families": "pipeline.models.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
