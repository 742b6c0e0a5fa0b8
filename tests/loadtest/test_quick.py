"""CI smoke test of the load tester: a real (small) sweep through the command, then the report's sanity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli.loadtest import loadtest_command
from pipeline.report_schema import LoadTestReport

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loadtest") / "out"
    app = typer.Typer()
    app.command()(loadtest_command)
    args = ["--quick", "--designs", "monolith", "--cameras", "1,2", "--duration", "3", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out


def test_loadtest_quick_report_is_schema_valid_and_sane(quick_report: Path) -> None:
    report = LoadTestReport.model_validate_json((quick_report / "report.json").read_text())
    assert [d.design for d in report.designs] == ["monolith"]
    design = report.designs[0]
    assert [p.cameras for p in design.points] == [1, 2]
    for point in design.points:
        assert point.aggregate_fps > 0
        assert point.errors == 0
        assert point.latency_p50_ms is not None and point.latency_p50_ms > 0
        assert point.cpu_percent["driver"] > 0 and point.rss_mb["triton"] > 0
        assert any(m.model == "monolith" and m.requests > 0 for m in point.models)
        assert point.detections_per_frame is not None and point.detections_per_frame >= 0
    assert set(design.baseline_fps) == {1, 2} and all(v > 0 for v in design.baseline_fps.values())
    assert report.limits.decode_only_fps > 0 and report.limits.inference_only_fps["monolith"] > 0
    settings = report.settings
    assert (
        settings["fps"] == 10.0 and settings["resolution"] == "640x360" and isinstance(settings["mix"], dict)
    )
    assert "max_batch" in settings and "shared_memory" in settings
    assert report.conclusion
    assert report.architecture is not None and report.architecture["input_size"] == report.input_size


def test_loadtest_quick_writes_plots_and_knee_table(quick_report: Path) -> None:
    for name in ("throughput.png", "latency.png"):
        assert (quick_report / name).stat().st_size > 1000
    markdown = (quick_report / "report.md").read_text()
    assert "## Knee per design" in markdown and "| monolith |" in markdown
    assert "## Conclusion" in markdown
    details = json.loads((quick_report / "details.json").read_text())
    assert details["designs"]["monolith"]["inference_batch1_fps"] > 0
    # Every measured point records each worker's pacing of the model it served.
    for point in details["designs"]["monolith"]["points"]:
        workers = point["pacing"]["monolith"]
        assert workers and all(w["batch_target"] >= 1 and w["in_flight_limit"] >= 1 for w in workers)
