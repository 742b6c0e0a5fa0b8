"""Start-up checks of the services: weights that are missing are named before anything starts."""

from __future__ import annotations

from pipeline.models.designs import get_design
from pipeline.runtime.services import missing_weights


def test_missing_weights_ignores_ensembles_and_merge(model_repository):
    needed = list(get_design("shared-groups").required_models)
    assert "merge_detections" in needed and "shared_groups" in needed
    assert missing_weights(model_repository, needed) == []


def test_missing_weights_names_families_without_model_pt(tmp_path):
    needed = list(get_design("specialists-groups").required_models)
    assert missing_weights(tmp_path, needed) == [
        "specialist_people",
        "specialist_vehicles",
        "specialist_animals_objects",
    ]
