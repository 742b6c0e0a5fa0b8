"""A small run of ``camfleet bench pipeline``: real Triton, Redis, Ray and PyAV."""

from __future__ import annotations

import pytest

from loadtest.bench import bench_pipeline
from pipeline.models import load_model_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_bench_pipeline_small_run_returns_rows_with_fps_and_ratio() -> None:
    rows = bench_pipeline(
        load_model_config(), cameras=2, fps=5.0, seconds=2.0, warmup_s=1.0, motion_gate=True, saturate=False
    )
    assert [r.case for r in rows] == ["paced", "motion gate on"]
    paced, gated = rows
    assert paced.aggregate_fps > 0 and paced.decode_only_fps > 0 and paced.inference_only_fps > 0
    assert 0 < paced.ratio_to_lower_limit < 2
    assert paced.worker_outside_ms_per_frame >= 0 and paced.skipped_pct == 0
    # The controller and this process only steer: a small share of one core, whatever the frame rate.
    assert paced.controller_ms_per_frame > 0 and paced.controller_cpu_percent < 25
    # The gate only ever removes frames, so the same inference capacity serves at least as many cameras.
    assert 0 <= gated.skipped_pct <= 100 and gated.cameras_servable >= paced.cameras_servable
