"""`camfleet answer`: the report's sections, markdown and self-contained HTML."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli.main import app
from pipeline.models.model_config import ModelConfig
from pipeline.planner.answer import build_answer, render_html, render_markdown, sections, write_answer
from pipeline.planner.hardware import HardwareProfile
from pipeline.planner.plan import PlanSettings


def _accuracy(tmp_path: Path) -> Path:
    designs = []
    for index, name in enumerate(
        ("monolith", "specialists-condition", "specialists-groups", "shared-condition", "shared-groups")
    ):
        value = 0.6 - 0.05 * index
        designs.append(
            {
                "design": name,
                "images": 3000,
                "map50": value,
                "per_condition": {"day": value, "dusk": value, "night": value - 0.1},
                "per_group": {"people": value, "vehicles": value, "animals_objects": value},
                "intervals": {"all": [value - 0.02, value + 0.02], "night": [value - 0.15, value - 0.05]},
            }
        )
    differences = [
        {
            "a": "monolith",
            "b": d["design"],
            "delta": 0.6 - d["map50"],
            "interval": [0.01, 0.09],
            "significant": True,
        }
        for d in designs[1:]
    ]
    path = tmp_path / "accuracy.json"
    path.write_text(json.dumps({"meta": {"frames": 3000}, "designs": designs, "differences": differences}))
    return path


def test_answer_names_the_best_design_and_the_accuracy_cost(
    tmp_path: Path, model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    answer = build_answer(
        model_config, hardware, cameras=8, settings=PlanSettings(), accuracy=_accuracy(tmp_path)
    )
    parts = sections(answer)
    markdown = render_markdown(parts)
    assert f"**Answer: {answer.best.design}.**" in markdown
    assert "Accuracy cost" in markdown and "[0.5" in markdown
    assert "all night" in markdown and "1 camera" in markdown
    page = render_html(parts)
    assert page.count("data:image/png;base64,") == sum(len(p.plots) for p in parts) >= 3
    assert "<b>Answer:" in page


def test_answer_command_writes_markdown_pngs_and_html(tmp_path: Path) -> None:
    out = tmp_path / "answer"
    result = CliRunner().invoke(
        app, ["answer", "--cameras", "6", "--mix", "day=0.7,night=0.3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "answer.md").is_file() and (out / "answer.html").is_file()
    assert (out / "capacity.png").stat().st_size > 1000
    assert "No load-test report was given" in (out / "answer.md").read_text()


def test_write_answer_returns_both_paths(
    tmp_path: Path, model_config: ModelConfig, hardware: HardwareProfile
) -> None:
    answer = build_answer(model_config, hardware, cameras=2, settings=PlanSettings(fps=5))
    markdown, page = write_answer(answer, tmp_path)
    assert markdown.read_text().startswith("# camfleet answer") and page.read_text().startswith(
        "<!doctype html>"
    )
