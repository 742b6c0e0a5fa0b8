"""Model profiles: FLOPs from PyTorch's counter, consistent totals, CLI output."""

import json

import pytest
from typer.testing import CliRunner

from pipeline.cli.main import app
from pipeline.models import load_model_config
from pipeline.models.profile import profile_family


@pytest.fixture(scope="module")
def config():
    return load_model_config()


def test_first_conv_flops_match_formula(config):
    profile = profile_family("trunk", config)
    stem = next(layer for layer in profile.layers if layer.name == "stem.0")
    out = config.input_size // 2
    # 2 * (kernel area * in channels) * out channels * output pixels
    assert stem.flops == 2 * 9 * 3 * config.shared.backbone.stem_width * out * out


def test_totals_are_sums_of_layers(config):
    profile = profile_family("monolith", config)
    assert profile.flops == sum(layer.flops for layer in profile.layers)
    assert profile.params == sum(layer.params for layer in profile.layers)
    assert profile.weight_bytes >= 4 * profile.params
    assert profile.kernels == sum(layer.kernels for layer in profile.layers) > len(profile.layers)


def test_flops_scale_with_batch_weights_do_not(config):
    one, eight = profile_family("specialist_day", config), profile_family("specialist_day", config, batch=8)
    assert eight.flops == 8 * one.flops
    assert eight.weight_bytes == one.weight_bytes
    assert eight.activation_bytes == 8 * one.activation_bytes


def test_monolith_costs_more_than_specialist_and_trunk_plus_head_adds_up(config):
    monolith = profile_family("monolith", config)
    specialist = profile_family("specialist_day", config)
    trunk, head = profile_family("trunk", config), profile_family("head_day", config)
    assert monolith.flops > 2 * specialist.flops
    assert trunk.flops > 0 and head.flops > 0
    assert trunk.output_bytes == head.input_bytes


def test_cli_profile_json_lists_models():
    result = CliRunner().invoke(
        app, ["models", "profile", "--json", "--model", "monolith", "--model", "trunk"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == ["monolith", "trunk"]
    assert all(row["flops"] > 0 for row in rows)


def test_cli_profile_bad_model_config_exit_code(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input_size: 7\n")
    result = CliRunner().invoke(app, ["models", "profile", "--model-config", str(bad)])
    assert result.exit_code == 1
    assert "input_size" in result.output
