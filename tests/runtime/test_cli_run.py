"""`camfleet run` as a user runs it: a malformed config is a clear error.

SIGTERM under load (drain, exit 0, every event in the stream) is in the fault matrix, ``test_faults.py``.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipeline.cli.main import app

pytestmark = pytest.mark.timeout(300)


def test_run_malformed_config_names_key_and_line(tmp_path):
    config = tmp_path / "cameras.yaml"
    config.write_text("design: monolith\ncameras:\n  - id: porch\n    url: rtsp://cam/1\n    fps: -3\n")
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 1
    assert "cameras.0.fps" in result.output
    assert f"{config}:5" in result.output  # the line of the bad value


def test_run_unknown_design_lists_choices(tmp_path):
    config = tmp_path / "cameras.yaml"
    config.write_text("design: gigantic\n")
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 1
    assert "design" in result.output and "monolith" in result.output
