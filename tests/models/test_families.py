"""Model families: registry, shapes, decoding, TorchScript and class mapping."""

import pytest
import torch

from pipeline.errors import ModelError
from pipeline.models import CLASS_NAMES, build_model, get_family, list_families, load_model_config
from pipeline.models.classes import CLASS_GROUPS, CONDITIONS, GROUPS, class_ids
from pipeline.models.profile import example_input
from pipeline.models.registry import ModelInput, register_family

EXPECTED_FAMILIES = {
    "monolith",
    "trunk",
    *(f"specialist_{c}" for c in CONDITIONS),
    *(f"specialist_{g}" for g in GROUPS),
    *(f"head_{c}" for c in CONDITIONS),
    *(f"head_{g}" for g in GROUPS),
}


@pytest.fixture(scope="module")
def config():
    return load_model_config()


def test_classes_twenty_unique_names_in_three_groups():
    assert len(CLASS_NAMES) == 20
    assert len(set(CLASS_NAMES)) == 20
    assert sorted(i for g in GROUPS for i in class_ids(g)) == list(range(20))
    assert {"person", "car", "pickup", "minivan", "delivery_truck"} <= set(CLASS_NAMES)
    assert set(CLASS_GROUPS) == set(GROUPS)


def test_registry_lists_every_family_exactly():
    assert set(list_families()) == EXPECTED_FAMILIES


def test_registry_duplicate_name_refused():
    with pytest.raises(ModelError, match="already registered"):
        register_family("monolith", ModelInput.IMAGES, "again")(lambda config: torch.nn.Identity())


def test_registry_unknown_name_lists_known():
    with pytest.raises(ModelError, match="monolith"):
        get_family("resnet9000")


@pytest.mark.parametrize("name", sorted(EXPECTED_FAMILIES - {"trunk"}))
def test_detector_output_fixed_k_by_6(name, config):
    model = build_model(name, config)
    with torch.no_grad():
        detections = model(example_input(name, config, 3))
    assert detections.shape == (3, config.head.max_detections, 6)
    assert detections.dtype == torch.float32
    scores = detections[..., 4]
    assert torch.all((scores >= 0) & (scores <= 1))
    assert torch.all(scores[:, :-1] >= scores[:, 1:])  # sorted by score


@pytest.mark.parametrize("group", GROUPS)
def test_group_specialist_class_ids_within_group(group, config):
    model = build_model(f"specialist_{group}", config)
    with torch.no_grad():
        detections = model(example_input(f"specialist_{group}", config, 2))
    assert set(detections[..., 5].long().unique().tolist()) <= set(class_ids(group))


def test_trunk_features_feed_every_head(config):
    trunk = build_model("trunk", config)
    images = example_input("trunk", config, 2)
    with torch.no_grad():
        features = trunk(images)
        for condition in CONDITIONS:
            assert build_model(f"head_{condition}", config)(features).shape == (2, 32, 6)
    assert features.dtype == torch.float32
    assert features.shape[0] == 2


def test_input_is_uint8_nhwc_and_normalised_inside(config):
    model = build_model("monolith", config)
    black = torch.zeros(1, config.input_size, config.input_size, 3, dtype=torch.uint8)
    normalised = model.normalize(black)
    assert normalised.shape == (1, 3, config.input_size, config.input_size)
    assert normalised.mean() < -1.5  # black sits well below the mean after normalisation


@pytest.mark.parametrize("name", ["monolith", "trunk", "head_night", "specialist_vehicles"])
def test_torchscript_matches_eager(name, config):
    model = build_model(name, config)
    scripted = torch.jit.script(model)
    inputs = example_input(name, config, 2)
    with torch.no_grad():
        torch.testing.assert_close(scripted(inputs), model(inputs))


def test_decoder_recovers_a_planted_peak(config):
    model = build_model("monolith", config)
    decoder = model.branch.decoder
    grid = config.input_size // 8
    heatmap = torch.full((1, 20, grid, grid), -10.0)
    heatmap[0, 7, 5, 9] = 5.0
    size = torch.zeros(1, 2, grid, grid)
    size[0, :, 5, 9] = torch.tensor([4.0, 2.0])
    offset = torch.zeros(1, 2, grid, grid)
    offset[0, :, 5, 9] = torch.tensor([0.5, 0.25])
    top = decoder(heatmap, size, offset)[0, 0]
    cx, cy = (9 + 0.5) * 8, (5 + 0.25) * 8
    torch.testing.assert_close(top[:4], torch.tensor([cx - 16, cy - 8, cx + 16, cy + 8]))
    assert top[5].item() == 7
    assert top[4].item() == pytest.approx(torch.sigmoid(torch.tensor(5.0)).item())
