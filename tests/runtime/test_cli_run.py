"""`camfleet run` as a user runs it: a malformed config is a clear error, SIGTERM drains and exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
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


def test_run_sigterm_drains_and_exits_cleanly(tmp_path, triton_server, pipeline_redis, clips):
    config = tmp_path / "cameras.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "design": "monolith",
                "cameras": [{"id": "porch", "url": str(clips("day")), "fps": 5}],
                "triton": {"urls": [triton_server.grpc_url]},
                "redis": {"url": pipeline_redis.url},
                "control": {"enabled": False},
                "ray": {"num_cpus": 1, "object_store_mb": 96},
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.main", "run", "--config", str(config), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        time.sleep(25)  # Ray start, camera open, first batches
        assert process.poll() is None, process.stderr.read().decode()[-2000:] if process.stderr else ""
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr.decode()[-2000:]
    final = json.loads(stdout.decode())
    camera = final["cameras"][0]
    assert camera["camera_id"] == "porch" and camera["frames_inferred"] > 0
    worker = final["workers"][0]["status"]
    assert worker["sink"]["buffered"] == 0  # drained before exit
    assert b"draining" in stderr
