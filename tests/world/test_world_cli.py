import json

from typer.testing import CliRunner

from pipeline.cli.main import app

runner = CliRunner()


def test_cli_world_help_shows_examples():
    result = runner.invoke(app, ["world", "--help"])
    assert result.exit_code == 0 and "camfleet world clip --condition night" in result.output


def test_cli_world_clip_writes_clip_and_labels(tmp_path):
    out = tmp_path / "night.mp4"
    args = [
        "world",
        "clip",
        "--condition",
        "night",
        "--seconds",
        "1",
        "--size",
        "64x48",
        "--fps",
        "5",
        "--seed",
        "1",
        "--out",
        str(out),
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["frames"] == 5
    assert out.is_file() and (tmp_path / "night.mp4.labels.json").is_file()


def test_cli_world_clip_bad_size_exit_1(tmp_path):
    result = runner.invoke(app, ["world", "clip", "--size", "64by48", "--out", str(tmp_path / "x.mp4")])
    assert result.exit_code == 1 and "640x360" in result.output


def test_cli_world_dataset_writes_yaml(tmp_path):
    result = runner.invoke(
        app, ["world", "dataset", "--out", str(tmp_path / "ds"), "--images", "3", "--size", "32"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ds" / "data.yaml").is_file()
