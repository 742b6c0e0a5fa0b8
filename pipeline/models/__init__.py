"""Model families (monolith, specialists, shared trunk and heads), their registry, profile and export."""

from pipeline.models import families as _families  # noqa: F401  (fills the registry)
from pipeline.models.classes import CLASS_GROUPS, CLASS_NAMES, CONDITIONS, GROUPS
from pipeline.models.model_config import ModelConfig, load_model_config
from pipeline.models.registry import FamilySpec, ModelInput, build_model, get_family, list_families

__all__ = [
    "CLASS_GROUPS",
    "CLASS_NAMES",
    "CONDITIONS",
    "GROUPS",
    "FamilySpec",
    "ModelConfig",
    "ModelInput",
    "build_model",
    "get_family",
    "list_families",
    "load_model_config",
]
