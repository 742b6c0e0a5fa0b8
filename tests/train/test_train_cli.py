import json

import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli.train import eval_command, train_command
from pipeline.world.dataset import write_dataset

runner = CliRunner()


@pytest.fixture()
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("train")(train_command)
    app.command("eval")(eval_command)
    return app


@pytest.fixture(scope="module")
def tiny_yolo(tmp_path_factory):
    root = tmp_path_factory.mktemp("yolo")
    write_dataset(root, images=15, size=64, seed=3)
    return root


def test_train_command_help_shows_examples(app) -> None:
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    assert "camfleet train --design monolith" in result.output


def test_train_then_eval_yolo_folder_writes_accuracy_report(app, tiny_yolo, tmp_path) -> None:
    weights, report = tmp_path / "weights", tmp_path / "report"
    common = ["--data", str(tiny_yolo), "--input-size", "64"]
    result = runner.invoke(
        app,
        [
            "train",
            "--design",
            "specialists-groups",
            "--steps",
            "2",
            "--batch-size",
            "3",
            "--out",
            str(weights),
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    assert (weights / "specialist_people.pt").is_file()
    result = runner.invoke(
        app,
        [
            "eval",
            "--design",
            "specialists-groups",
            "--weights",
            str(weights),
            "--out",
            str(report),
            "--json",
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["designs"][0]["design"] == "specialists-groups"
    assert set(payload["designs"][0]["per_condition"]) == {"day", "dusk", "night"}
    assert (report / "accuracy.json").is_file() and (report / "accuracy.md").is_file()


def test_eval_command_missing_weights_exits_1(app, tiny_yolo, tmp_path) -> None:
    result = runner.invoke(
        app, ["eval", "--all", "--weights", str(tmp_path), "--data", str(tiny_yolo), "--input-size", "64"]
    )
    assert result.exit_code == 1
    assert "camfleet train" in result.output


def test_train_command_bad_data_path_exits_1(app, tmp_path) -> None:
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 1


def test_eval_command_unknown_design_exits_1(app) -> None:
    result = runner.invoke(app, ["eval", "--design", "nope"])
    assert result.exit_code == 1
    assert "unknown design" in result.output
