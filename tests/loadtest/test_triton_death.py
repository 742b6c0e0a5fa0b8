"""A Triton that dies during a point: the point is measured again on a new server, never kept as data."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import loadtest.runner as runner
from loadtest.render import points_table
from loadtest.report import build_report
from loadtest.settings import LoadTestSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_a_point_where_triton_died_is_measured_again_then_kept_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    measure = runner.measure_point
    deaths_to_cause = {1: 1, 2: 2}  # camera count -> times the real server is killed at its point's end
    killed: list[int] = []

    def measure_then_kill_triton(*args: Any, **kwargs: Any) -> Any:
        run = measure(*args, **kwargs)
        config, running = args[0], args[2]
        count = len(config.cameras)
        server = running.triton_server
        if deaths_to_cause.get(count, 0) > 0 and server is not None and server.pid is not None:
            deaths_to_cause[count] -= 1
            pid = server.pid
            os.kill(pid, signal.SIGKILL)  # the server this run started
            deadline = time.monotonic() + 30
            while server.running and time.monotonic() < deadline:
                time.sleep(0.05)
            killed.append(pid)
        return run

    monkeypatch.setattr(runner, "measure_point", measure_then_kill_triton)
    monkeypatch.setattr(runner, "MAX_TRITON_STARTS", 4)
    settings = LoadTestSettings(
        out=tmp_path / "out",
        designs=("monolith",),
        cameras=(1, 2),
        duration_s=2.0,
        warmup_s=1.0,
        baseline_s=0.0,
        limit_s=0.5,
        quick=True,
    )
    outcome = runner.run_loadtest(settings, show_progress=False)

    assert len(set(killed)) == 3  # each death hit a new server
    sweep = outcome.sweeps[0]
    assert [count for count, _ in sweep.server_failures] == [1, 2, 2]
    assert all(reason for _, reason in sweep.server_failures)
    assert sweep.inference_fps > 0  # measured on the fourth server, after the sweep
    report = build_report(outcome)
    design = report.designs[0]
    assert design.triton_restarts == 3
    # The machine-speed reference was timed once before the sweep and once after, across the restarts.
    assert len(sweep.speed_readings) == 2 and design.speed is not None
    assert [p.cameras for p in design.points] == [1, 2]
    first, second = design.points
    # Died once at 1 camera: measured again, and that measurement is the point.
    assert not first.server_failed and first.aggregate_fps > 0 and first.errors == 0
    # Died twice at 2 cameras: kept, flagged, and it does not count as meeting the target.
    assert second.server_failed and not second.meets_target
    assert design.knee_cameras == 1
    assert "(Triton died)" in points_table(report)
