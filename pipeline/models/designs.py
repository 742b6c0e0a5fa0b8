"""The five network designs, as Triton model names: what to call for a stream, and what to load.

A *design* answers "which Triton model does a frame of condition C go to?". The ensembles here are the
Triton ensembles in ``triton_models/``: a shared trunk feeding heads, or group specialists whose outputs
are merged by the ``merge_detections`` model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pipeline.errors import ModelError
from pipeline.models.classes import CONDITIONS, GROUPS

MERGE_MODEL = "merge_detections"
"""Python-backend model that merges the [K, 6] outputs of the class-group models into one [K, 6]."""


@dataclass(frozen=True)
class EnsembleSpec:
    """A Triton ensemble: ``parallel`` models all take the ensemble input (or the trunk's features).

    ``trunk`` is ``None`` for ensembles of whole specialists. With more than one parallel model the
    outputs go through :data:`MERGE_MODEL`.
    """

    name: str
    trunk: str | None
    parallel: tuple[str, ...]

    @property
    def merges(self) -> bool:
        """True when the outputs of several models are merged."""
        return len(self.parallel) > 1

    @property
    def steps(self) -> tuple[str, ...]:
        """Every model the ensemble calls, in order."""
        trunk = (self.trunk,) if self.trunk else ()
        merge = (MERGE_MODEL,) if self.merges else ()
        return trunk + self.parallel + merge


ENSEMBLES: Mapping[str, EnsembleSpec] = MappingProxyType(
    {
        **{f"shared_{c}": EnsembleSpec(f"shared_{c}", "trunk", (f"head_{c}",)) for c in CONDITIONS},
        "shared_groups": EnsembleSpec("shared_groups", "trunk", tuple(f"head_{g}" for g in GROUPS)),
        "specialists_groups": EnsembleSpec(
            "specialists_groups", None, tuple(f"specialist_{g}" for g in GROUPS)
        ),
    }
)
"""Every ensemble in the Triton repository, by name."""


@dataclass(frozen=True)
class Design:
    """A network design: the Triton model that serves each lighting condition."""

    name: str
    description: str
    model_by_condition: Mapping[str, str]

    def model_for(self, condition: str) -> str:
        """The Triton model (plain or ensemble) a frame of ``condition`` goes to."""
        try:
            return self.model_by_condition[condition]
        except KeyError:
            raise ModelError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}") from None

    @property
    def served_models(self) -> tuple[str, ...]:
        """Models the client calls, without duplicates, in condition order."""
        return tuple(dict.fromkeys(self.model_by_condition.values()))

    @property
    def required_models(self) -> tuple[str, ...]:
        """Every model Triton must load for this design (ensemble steps included)."""
        needed: list[str] = []
        for model in self.served_models:
            needed.extend(ENSEMBLES[model].steps if model in ENSEMBLES else ())
            needed.append(model)
        return tuple(dict.fromkeys(needed))


def _same_for_all(model: str) -> Mapping[str, str]:
    return MappingProxyType(dict.fromkeys(CONDITIONS, model))


DESIGNS: Mapping[str, Design] = MappingProxyType(
    {
        "monolith": Design("monolith", "one large network for every frame", _same_for_all("monolith")),
        "specialists-condition": Design(
            "specialists-condition",
            "a small network per lighting condition; one runs per frame",
            MappingProxyType({c: f"specialist_{c}" for c in CONDITIONS}),
        ),
        "specialists-groups": Design(
            "specialists-groups",
            "a small network per class group; all run on every frame, outputs merged",
            _same_for_all("specialists_groups"),
        ),
        "shared-condition": Design(
            "shared-condition",
            "shared trunk, then one condition head per frame",
            MappingProxyType({c: f"shared_{c}" for c in CONDITIONS}),
        ),
        "shared-groups": Design(
            "shared-groups",
            "shared trunk, then every class-group head, outputs merged",
            _same_for_all("shared_groups"),
        ),
    }
)
"""The five designs, by name."""


def get_design(name: str) -> Design:
    """Return design ``name``.

    Raises:
        ModelError: if the design is unknown (the message lists the known ones).
    """
    try:
        return DESIGNS[name]
    except KeyError:
        raise ModelError(f"unknown design {name!r}; known: {', '.join(DESIGNS)}") from None
