"""The Triton model repository without a server: configs parse, wiring holds, committed files are current."""

import json
from pathlib import Path

import pytest
import torch
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from pipeline.errors import ModelError
from pipeline.models import build_model, list_families, load_model_config
from pipeline.models.designs import DESIGNS, ENSEMBLES, MERGE_MODEL
from pipeline.models.export import export_repository, select_models
from pipeline.serving.repository import (
    CONFIG_FILE,
    GPU_CONFIG_FILE,
    model_files,
    repository_models,
)

REPOSITORY = Path(__file__).resolve().parents[2] / "triton_models"
ALL_MODELS = [*list_families(), MERGE_MODEL, *ENSEMBLES]


def parse(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def committed(name: str, relative: str = CONFIG_FILE) -> model_config_pb2.ModelConfig:
    return parse(REPOSITORY / name / relative)


def tensors(entries) -> dict[str, tuple[int, tuple[int, ...]]]:
    return {t.name: (t.data_type, tuple(t.dims)) for t in entries}


@pytest.fixture(scope="module")
def config():
    return load_model_config()


def test_repository_models_every_family_merge_and_ensemble_and_nothing_else():
    folders = {p.name for p in REPOSITORY.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert folders == set(ALL_MODELS)
    assert repository_models() == ALL_MODELS


@pytest.mark.parametrize("name", ALL_MODELS)
def test_config_committed_parses_with_name_of_its_folder(name):
    config = committed(name)
    assert config.name == name
    assert config.max_batch_size > 0
    if name in ENSEMBLES:
        assert config.platform == "ensemble"
        assert not (REPOSITORY / name / GPU_CONFIG_FILE).exists()
        return
    assert config.backend == "python"
    assert config.HasField("dynamic_batching")
    assert [(g.kind, g.count) for g in config.instance_group] == [
        (model_config_pb2.ModelInstanceGroup.KIND_CPU, 1)
    ]
    assert int(config.parameters["torch_threads"].string_value) >= 1
    gpu = committed(name, GPU_CONFIG_FILE)
    assert gpu.name == name
    assert [g.kind for g in gpu.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
    assert list(gpu.dynamic_batching.preferred_batch_size)
    assert tensors(gpu.input) == tensors(config.input)
    assert tensors(gpu.output) == tensors(config.output)
    shim = (REPOSITORY / name / "1" / "model.py").read_text()
    assert "from pipeline.serving.python_model import" in shim


@pytest.mark.parametrize("name", ALL_MODELS)
def test_config_committed_equals_generated_for_default_config(name, config):
    for relative, text in model_files(name, config).items():
        assert (REPOSITORY / name / relative).read_text() == text, f"{name}/{relative} is stale: re-export"


def test_tensors_images_features_detections_shapes(config):
    k = config.head.max_detections
    images = {"IMAGES": (model_config_pb2.TYPE_UINT8, (-1, -1, 3))}
    detections = {"DETECTIONS": (model_config_pb2.TYPE_FP32, (k, 6))}
    trunk = committed("trunk")
    assert tensors(trunk.input) == images
    features = tensors(trunk.output)
    assert list(features) == ["FEATURES"] and features["FEATURES"][1][1:] == (-1, -1)
    for name in list_families():
        model = committed(name)
        if name.startswith("head_"):
            assert tensors(model.input) == features
        elif name != "trunk":
            assert tensors(model.input) == images
        if name != "trunk":
            assert tensors(model.output) == detections
    merge = committed(MERGE_MODEL)
    assert tensors(merge.input) == {
        f"DETECTIONS_{g}": detections["DETECTIONS"] for g in ("PEOPLE", "VEHICLES", "ANIMALS_OBJECTS")
    }
    assert tensors(merge.output) == detections


@pytest.mark.parametrize("name", list(ENSEMBLES))
def test_ensemble_wiring_steps_exist_and_tensors_connect(name):
    ensemble = committed(name)
    steps = ensemble.ensemble_scheduling.step
    assert tuple(s.model_name for s in steps) == ENSEMBLES[name].steps
    produced = {t.name: tensors(ensemble.input)[t.name] for t in ensemble.input}
    for step in steps:
        assert step.model_version == -1
        model = committed(step.model_name)
        model_inputs, model_outputs = tensors(model.input), tensors(model.output)
        assert set(step.input_map) == set(model_inputs), f"{step.model_name} inputs not all mapped"
        for key, source in step.input_map.items():
            assert source in produced, f"{step.model_name}.{key} reads {source!r} before it is produced"
            assert produced[source][0] == model_inputs[key][0]
        for key, target in step.output_map.items():
            assert key in model_outputs and target not in produced
            produced[target] = model_outputs[key]
    outputs = tensors(ensemble.output)
    assert all(produced[o] == outputs[o] for o in outputs)
    trunk = ENSEMBLES[name].trunk
    if trunk:
        features = steps[0].output_map["FEATURES"]
        heads = [s for s in steps if s.model_name in ENSEMBLES[name].parallel]
        assert all(dict(s.input_map) == {"FEATURES": features} for s in heads)


def test_designs_every_required_model_in_repository():
    for design in DESIGNS.values():
        assert set(design.required_models) <= set(ALL_MODELS)


def test_export_repository_writes_configs_weights_and_info(tmp_path, config):
    small = config.with_input_size(64)
    written = export_repository(small, tmp_path, models=["shared_day"])
    assert [p.name for p in written] == ["trunk", "head_day", "shared_day"]
    assert (tmp_path / "trunk" / "1" / "model.pt").is_file()
    assert parse(tmp_path / "head_day" / CONFIG_FILE).name == "head_day"
    info = json.loads((tmp_path / "shared_day" / "1" / "export.json").read_text())
    assert info["input_size"] == 64 and info["input"] == "IMAGES" and info["max_detections"] == 32


def test_export_repository_random_weights_deterministic(tmp_path, config):
    export_repository(config, tmp_path / "a", models=["specialist_day"])
    export_repository(config, tmp_path / "b", models=["specialist_day"])
    a = torch.jit.load(str(tmp_path / "a" / "specialist_day" / "1" / "model.pt")).state_dict()
    b = torch.jit.load(str(tmp_path / "b" / "specialist_day" / "1" / "model.pt")).state_dict()
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_export_repository_weights_missing_raises_model_error(tmp_path, config):
    with pytest.raises(ModelError, match="specialist_day.pt is missing"):
        export_repository(config, tmp_path / "repo", weights=tmp_path, models=["specialist_day"])
    assert not (tmp_path / "repo").exists()


def test_export_repository_weights_mismatched_raises_model_error(tmp_path, config):
    torch.save(build_model("monolith", config).state_dict(), tmp_path / "specialist_day.pt")
    with pytest.raises(ModelError, match="do not fit 'specialist_day'"):
        export_repository(config, tmp_path / "repo", weights=tmp_path, models=["specialist_day"])


def test_export_repository_trained_weights_loaded(tmp_path, config):
    model = build_model("head_day", config)
    torch.nn.init.constant_(model.head.heatmap.bias, 1.5)
    torch.save(model.state_dict(), tmp_path / "head_day.pt")
    export_repository(config, tmp_path / "repo", weights=tmp_path, models=["head_day"])
    loaded = torch.jit.load(str(tmp_path / "repo" / "head_day" / "1" / "model.pt"))
    assert torch.all(loaded.state_dict()["head.heatmap.bias"] == 1.5)


def test_select_models_unknown_raises_model_error():
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        select_models(["nope"])
