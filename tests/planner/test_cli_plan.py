from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli.plan import app
from pipeline.report_schema import DesignResult, Limits, LoadTestReport, SweepPoint

runner = CliRunner()


def test_plan_cli_json_shape_ranked_designs() -> None:
    result = runner.invoke(
        app, ["--cameras", "8", "--fps", "10", "--mix", "day=0.5,dusk=0.3,night=0.2", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["best"] == data["designs"][0]["design"]
    assert len(data["designs"]) == 5
    for design in data["designs"]:
        assert {"max_cameras", "capacity_fps", "bottleneck", "batches", "memory_mb", "frame_cost_ms"} <= set(
            design
        )
        assert design["bottleneck"] in {"cpu", "device"} or design["bottleneck"].startswith("instances:")


def test_plan_cli_branch_point_out_of_range_exits_1() -> None:
    result = runner.invoke(app, ["--branch-point", "9"])
    assert result.exit_code == 1
    assert "branch" in result.output


def test_plan_cli_table_names_best_and_explains_stages() -> None:
    result = runner.invoke(
        app, ["--cameras", "4", "--designs", "monolith", "--designs", "shared-condition", "--explain"]
    )
    assert result.exit_code == 0, result.output
    assert "best:" in result.output
    assert "where a frame's CPU goes" in result.output and "inference by model step" in result.output
    assert "frames per Triton execution at the knee" in result.output and "trunk" in result.output


def _report(tmp_path: Path) -> Path:
    def points(rate_cap: float) -> list[SweepPoint]:
        return [
            SweepPoint(
                cameras=n,
                target_fps=10,
                offered_fps=10 * n,
                aggregate_fps=min(10 * n, rate_cap),
                per_camera_fps=min(10.0, rate_cap / n),
                meets_target=min(10.0, rate_cap / n) >= 9.5,
            )
            for n in (1, 2, 4, 8, 16)
        ]

    report = LoadTestReport(
        created="2026-01-01T00:00:00Z",
        machine={"cpus": 2},
        settings={"fps": 10, "mix": {"day": 0.5, "dusk": 0.3, "night": 0.2}, "resolution": "640x360"},
        input_size=160,
        limits=Limits(decode_only_fps=1000),
        designs=[
            DesignResult(design="monolith", points=points(45), knee_cameras=4, binding_limit="inference"),
            DesignResult(
                design="specialists-condition", points=points(170), knee_cameras=16, binding_limit="pipeline"
            ),
        ],
    )
    path = tmp_path / "report.json"
    path.write_text(report.model_dump_json())
    return path


def test_plan_cli_validate_reports_json_shape(tmp_path: Path) -> None:
    report = _report(tmp_path)
    result = runner.invoke(app, ["validate", str(report), str(report), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["reports"]) == 2
    first = data["reports"][0]
    assert {d["design"] for d in first["designs"]} == {"monolith", "specialists-condition"}
    assert first["measured_ranking"] == ["specialists-condition", "monolith"]
    assert 0 <= data["fps_within_10pct"] <= 1 and data["rankings_right"] in (0, 2)


def test_plan_cli_validate_table_prints_targets(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(_report(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "saturated fps within 10%" in result.output and "ranking" in result.output


def test_plan_cli_validate_missing_report_exits_nonzero(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "none.json")])
    assert result.exit_code != 0


def test_plan_cli_calibrate_quick_writes_loadable_profile(tmp_path: Path) -> None:
    from pipeline.planner.hardware import load_hardware

    out = tmp_path / "hw.json"
    result = runner.invoke(app, ["calibrate", "--quick", "--skip-pipeline", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    profile = load_hardware(out)
    assert profile.model_dump() == json.loads(out.read_text())
    assert profile.operators.conv.samples > 0 and len(profile.decode) == 2 and profile.usable_cores > 0
    assert runner.invoke(app, ["--hardware", str(out), "--json"]).exit_code == 0
