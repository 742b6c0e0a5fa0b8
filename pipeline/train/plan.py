"""What each design trains: its models (by registry name) and one objective per detection head.

A *training plan* is the unit the trainer runs. The two shared designs have one plan, ``shared``: the
Triton repository holds ONE ``trunk`` that both shared ensembles call, so the trunk is trained jointly
with all six heads (condition heads on their condition's frames, group heads on their group's labels).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import nn

from pipeline.errors import ModelError
from pipeline.models.classes import CLASS_NAMES, CONDITIONS, GROUPS, class_ids
from pipeline.models.designs import DESIGNS
from pipeline.models.families import DetectionBranch, Detector

logger = logging.getLogger(__name__)

ALL_CLASSES: tuple[int, ...] = tuple(range(len(CLASS_NAMES)))
DESIGN_CHOICES: tuple[str, ...] = (*DESIGNS, "all")
"""Values of ``--design``: every design, or ``all``."""

RawOutputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Objective:
    """One detection head to train.

    Attributes:
        model: registry name of the module that owns the head.
        classes: global class id of each of the head's heatmap channels.
        condition: train only on frames of this condition (``None``: every frame).
        trunk: registry name of the trunk whose features feed ``model`` (``None``: it takes frames).
    """

    model: str
    classes: tuple[int, ...]
    condition: str | None = None
    trunk: str | None = None


@dataclass(frozen=True)
class TrainPlan:
    """The models trained together, and their objectives."""

    name: str
    designs: tuple[str, ...]
    objectives: tuple[Objective, ...]

    @property
    def models(self) -> tuple[str, ...]:
        """Every registry name this plan trains (trunks first)."""
        trunks = [o.trunk for o in self.objectives if o.trunk]
        return tuple(dict.fromkeys([*trunks, *(o.model for o in self.objectives)]))


PLANS: Mapping[str, TrainPlan] = MappingProxyType(
    {
        "monolith": TrainPlan("monolith", ("monolith",), (Objective("monolith", ALL_CLASSES),)),
        "specialists-condition": TrainPlan(
            "specialists-condition",
            ("specialists-condition",),
            tuple(Objective(f"specialist_{c}", ALL_CLASSES, condition=c) for c in CONDITIONS),
        ),
        "specialists-groups": TrainPlan(
            "specialists-groups",
            ("specialists-groups",),
            tuple(Objective(f"specialist_{g}", class_ids(g)) for g in GROUPS),
        ),
        "shared": TrainPlan(
            "shared",
            ("shared-condition", "shared-groups"),
            (
                *(Objective(f"head_{c}", ALL_CLASSES, condition=c, trunk="trunk") for c in CONDITIONS),
                *(Objective(f"head_{g}", class_ids(g), trunk="trunk") for g in GROUPS),
            ),
        ),
    }
)
"""Every training plan, by name."""


def plans_for(design: str) -> tuple[TrainPlan, ...]:
    """The plans to run for ``design`` (a design name or ``all``), without duplicates.

    Raises:
        ModelError: if ``design`` is unknown.
    """
    if design == "all":
        return tuple(PLANS.values())
    matches = tuple(plan for plan in PLANS.values() if design in plan.designs)
    if not matches:
        raise ModelError(f"unknown design {design!r}; known: {', '.join(DESIGN_CHOICES)}")
    return matches


def designs_for(design: str) -> tuple[str, ...]:
    """Design names meant by ``design`` (``all`` is every design).

    Raises:
        ModelError: if ``design`` is unknown.
    """
    if design == "all":
        return tuple(DESIGNS)
    if design not in DESIGNS:
        raise ModelError(f"unknown design {design!r}; known: {', '.join(DESIGN_CHOICES)}")
    return (design,)


def raw_outputs(model: nn.Module, inputs: torch.Tensor) -> RawOutputs:
    """Heatmap logits, sizes and offsets of a detector (from frames) or a head (from trunk features).

    The modules' own ``forward`` decodes boxes; the loss needs the head's raw outputs, so this runs the
    same submodules without the decoder.

    Raises:
        ModelError: if ``model`` is neither a :class:`Detector` nor a :class:`DetectionBranch`.
    """
    if isinstance(model, Detector):
        features = model.stem(model.normalize(inputs))
        branch = model.branch
    elif isinstance(model, DetectionBranch):
        features, branch = inputs, model
    else:
        raise ModelError(f"cannot train a {type(model).__name__}: it has no detection head")
    heatmap, size, offset = branch.head(branch.stages(features))
    return heatmap, size, offset


def output_stride(model: nn.Module) -> int:
    """Input pixels per heatmap cell of a detector or head."""
    branch = model.branch if isinstance(model, Detector) else model
    if not isinstance(branch, DetectionBranch):
        raise ModelError(f"{type(model).__name__} has no detection head")
    return branch.decoder.stride
