"""Calibration probes: machine figures, and the real pipeline measured around null models."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline.models.model_config import ModelConfig
from pipeline.planner import probes

if TYPE_CHECKING:
    from loadtest.system_probe import PipelineProbe


def test_usable_cores_is_positive_and_at_most_the_cores() -> None:
    cores = os.cpu_count() or 1
    usable = probes.measure_usable_cores(cores, seconds=0.3)
    assert 0.3 < usable <= cores


def test_null_repository_serves_design_io_with_null_shims(tmp_path: Path) -> None:
    from loadtest.system_probe import PROBE_DESIGNS, null_repository

    repository = null_repository(ModelConfig(), tmp_path / "repo")
    shims = sorted(p.parent.parent.name for p in repository.glob("*/1/model.py"))
    assert "monolith" in shims and "trunk" in shims and "merge_detections" in shims
    for shim in repository.glob("*/1/model.py"):
        text = shim.read_text()
        if shim.parent.parent.name == "merge_detections":
            assert "MergeDetectionsModel" in text
        else:
            assert "NullDetector" in text
    assert {"monolith", "shared-groups"} == set(PROBE_DESIGNS)


@pytest.mark.timeout(300)
def test_probe_pipeline_measures_every_stage_on_real_services(tmp_path: Path) -> None:
    from loadtest.system_probe import probe_pipeline

    runs = probe_pipeline(ModelConfig(), tmp_path, cameras=(2, 4), seconds=2.0, warmup_s=2.0, rounds=2)
    # Two rounds of (monolith at 2 cameras, shared-groups at 4), round after round, on one set of services.
    assert [(p.design, round(p.fps / 10)) for p in runs] == [("monolith", 2), ("shared-groups", 4)] * 2
    single, grouped = runs[2:]
    for probe in runs:
        assert probe.frames > 0 and probe.requests > 0
        assert probe.decode_s_per_frame > 0 and probe.loop_s_per_frame > 0
        assert probe.triton_s_per_request > 0 and probe.client_s_per_request > 0
        assert probe.null_execution_s > 0 and probe.fps > 0
    # Twice the cameras, about twice the frames (both runs keep up at 10 fps a camera).
    assert grouped.fps > 1.5 * single.fps
    assert (single.steps, grouped.steps) == (1, 5)
    assert (single.detections_per_frame, grouped.detections_per_frame) == (
        ModelConfig().head.max_detections,
        0,
    )
    # Tracking and publishing K detections a frame costs the worker's loop more than none.
    assert single.loop_s_per_frame > grouped.loop_s_per_frame


@pytest.mark.timeout(300)
def test_serving_probe_fits_a_line_on_real_triton(tmp_path: Path) -> None:
    from pipeline.planner.operators import OperatorModel
    from pipeline.planner.serving_probe import SCALE_RANGE, ServingProbe, fit_serving
    from pipeline.serving.client import TritonClient
    from pipeline.serving.launcher import TritonServer

    probe = ServingProbe.export(tmp_path / "repo", nets=1)
    with (
        TritonServer(tmp_path / "repo", models=probe.names, run_dir=tmp_path / "run") as server,
        TritonClient(server.grpc_url) as client,
    ):
        samples = probe.measure(client, OperatorModel(), batches=(1, 4), reps=2)
    assert len(samples) == 2 and all(predicted > 0 and served > 0 for predicted, served in samples)
    figures = fit_serving(samples, fixed_s=0.001)
    assert (
        SCALE_RANGE[0] <= figures["serving_scale"] <= SCALE_RANGE[1] and figures["serving_fixed_s"] == 0.001
    )
    assert figures["serving_rms_error"] >= 0


@pytest.mark.timeout(300)
def test_handoff_probe_reads_triton_cpu_per_megabyte_on_real_null_models(tmp_path: Path) -> None:
    from loadtest.resources import with_children
    from loadtest.system_probe import null_repository
    from pipeline.models.designs import get_design
    from pipeline.planner.handoff_probe import measure_handoff
    from pipeline.serving.client import TritonClient
    from pipeline.serving.launcher import TritonServer

    repository = null_repository(ModelConfig(), tmp_path / "repo")
    models = [*get_design("monolith").required_models, *get_design("shared-groups").required_models]
    with (
        TritonServer(repository, models=models, run_dir=tmp_path / "run") as server,
        TritonClient(server.grpc_url) as client,
    ):
        costs = measure_handoff(client, with_children(server.pid), batch=2, requests=8, rounds=1)
    # Frames and features cross the stubs by copy: each megabyte costs Triton CPU, at most milliseconds.
    assert 0 < costs.frame_s_per_mb < 0.05
    assert 0 < costs.feature_s_per_mb < 0.05


def test_null_runs_hand_offs_come_out_of_the_request_and_step_costs() -> None:
    from pipeline.planner.calibrate import _pipeline_split
    from pipeline.planner.handoff_probe import HandoffCosts, request_megabytes

    runs = [
        _null_run(design, fps, triton_ms=2.4, rest_cores=0.03 + fps * 1e-4)
        for design, fps in (("monolith", 20.0), ("shared-groups", 80.0), ("shared-groups", 160.0))
    ]
    handoff = HandoffCosts(frame_s_per_mb=5e-4, feature_s_per_mb=1e-3)
    plain = _pipeline_split(*runs, bare_decode=0.001)
    net = _pipeline_split(*runs, bare_decode=0.001, handoff=handoff)
    single, grouped = runs[0], runs[1]
    single_moved = request_megabytes("monolith", ModelConfig(), single.frames / single.requests)
    grouped_moved = request_megabytes("shared-groups", ModelConfig(), grouped.frames / grouped.requests)
    assert single_moved.features == 0 and grouped_moved.features > 0
    assert net["triton_request_cpu_s"] == pytest.approx(
        plain["triton_request_cpu_s"] - handoff.seconds(single_moved)
    )
    steps_moved = handoff.seconds(grouped_moved) - handoff.seconds(single_moved)
    assert net["triton_step_cpu_s"] == pytest.approx(plain["triton_step_cpu_s"] - steps_moved / 4)
    assert (plain["triton_cpu_s_per_mb"], net["triton_cpu_s_per_mb"]) == (0.0, 5e-4)


def test_fit_serving_scales_the_layers_over_the_null_hand_off_and_reports_the_error() -> None:
    from pipeline.planner.serving_probe import SCALE_RANGE, fit_serving

    exact = fit_serving([(x, x + 0.002) for x in (0.001, 0.004, 0.01)], fixed_s=0.002)
    assert exact["serving_scale"] == pytest.approx(1.0)
    assert exact["serving_rms_error"] == pytest.approx(0.0, abs=1e-9)
    slower = fit_serving([(x, 1.3 * x + 0.002) for x in (0.001, 0.004, 0.01)], fixed_s=0.002)
    assert slower["serving_scale"] == pytest.approx(1.3) and slower["serving_fixed_s"] == 0.002
    # Scattered samples: the slope of the rest, and an error the profile reports.
    scattered = fit_serving([(0.001, 0.0035), (0.004, 0.0062), (0.01, 0.0141)], fixed_s=0.002)
    assert 1.0 < scattered["serving_scale"] < 1.3 and scattered["serving_rms_error"] > 0.01
    # A burst of other work during the probe cannot make the layers free or ten times dearer.
    assert fit_serving([(0.001, 0.001), (0.004, 0.002)], fixed_s=0.002)["serving_scale"] == SCALE_RANGE[0]
    assert fit_serving([(0.001, 0.05), (0.004, 0.2)], fixed_s=0.002)["serving_scale"] == SCALE_RANGE[1]


def test_workers_per_frame_costs_come_from_the_busiest_null_run() -> None:
    from dataclasses import replace

    from pipeline.planner.calibrate import _pipeline_split

    single, grouped, loaded = (
        _null_run(design, fps, triton_ms=2.4, rest_cores=0.03 + fps * 1e-4)
        for design, fps in (("monolith", 20.0), ("shared-groups", 80.0), ("shared-groups", 320.0))
    )
    # Busier workers spend less a frame: the busiest run's figures are what a saturated design pays.
    busy = replace(loaded, decode_s_per_frame=0.0016, loop_s_per_frame=0.0004, client_s_per_request=0.0007)
    figures = _pipeline_split(single, grouped, busy, bare_decode=0.001)
    quiet = _pipeline_split(single, grouped, loaded, bare_decode=0.001)
    assert figures["decode_in_worker"] == pytest.approx(1.6)
    assert quiet["decode_in_worker"] == pytest.approx(2.0)
    assert figures["worker_frame_cpu_s"] == pytest.approx(quiet["worker_frame_cpu_s"] - 0.0002)
    assert figures["client_request_cpu_s"] == 0.0007
    # The detection cost still compares the two quieter runs, whose detections differ.
    assert figures["worker_detection_cpu_s"] == quiet["worker_detection_cpu_s"] == pytest.approx(0.0001)


def test_fixed_and_per_frame_splits_two_readings() -> None:
    from pipeline.planner.calibrate import _fixed_and_per_frame

    fixed, per_frame = _fixed_and_per_frame((80.0, 0.05 + 80 * 0.001), (40.0, 0.05 + 40 * 0.001))
    assert fixed == pytest.approx(0.05) and per_frame == pytest.approx(0.001)
    # Equal rates cannot split: everything is per frame.
    assert _fixed_and_per_frame((40.0, 0.2), (40.0, 0.2)) == (0.0, pytest.approx(0.005))
    # Three readings: the least-squares line, so one noisy reading moves it less than a two-point line.
    noisy = _fixed_and_per_frame((20.0, 0.07), (80.0, 0.13 + 0.02), (160.0, 0.21))
    two_point = _fixed_and_per_frame((20.0, 0.07), (80.0, 0.13 + 0.02))
    assert abs(noisy[1] - 0.001) < abs(two_point[1] - 0.001)
    assert noisy[0] > 0 and noisy[1] > 0


def _null_run(design: str, fps: float, *, triton_ms: float, rest_cores: float) -> PipelineProbe:
    """A null run's figures as :func:`loadtest.system_probe.probe_pipeline` returns them."""
    from loadtest.system_probe import PipelineProbe

    grouped = design == "shared-groups"
    return PipelineProbe(
        design=design,
        steps=5 if grouped else 1,
        frames=int(fps * 5),
        requests=int(fps * 5 / (5 if grouped else 2)),
        decode_s_per_frame=0.002,
        loop_s_per_frame=0.0006 if grouped else 0.0046,
        client_s_per_request=0.001,
        triton_s_per_request=(triton_ms + (4 * 1.5 if grouped else 0.0)) / 1e3,
        detections_per_frame=0 if grouped else 40,
        fps=fps,
        rest_cores=rest_cores,
        worker_other_cores=0.02 + fps * 1e-4,
        null_execution_s=0.0011,
    )


def test_repeated_rounds_take_each_runs_median_so_one_disturbed_round_does_not_count() -> None:
    from pipeline.planner.calibrate import _pipeline_split, median_probe

    def one_round(triton_ms: float, idle_cores: float) -> list[PipelineProbe]:
        return [
            _null_run(design, fps, triton_ms=triton_ms, rest_cores=idle_cores + fps * 1e-4)
            for design, fps in (("monolith", 20.0), ("shared-groups", 80.0), ("shared-groups", 160.0))
        ]

    quiet = _pipeline_split(*one_round(2.4, 0.03), bare_decode=0.001)
    assert quiet["triton_request_cpu_s"] == pytest.approx(2.4e-3)
    assert quiet["triton_step_cpu_s"] == pytest.approx(1.5e-3)
    assert quiet["other_fixed_cores"] == pytest.approx(0.03)
    assert quiet["other_frame_cpu_s"] == pytest.approx(1e-4)
    assert quiet["worker_detection_cpu_s"] == pytest.approx(1e-4)
    # A round during a burst of other work on the VM reads every fixed cost higher; the median drops it.
    rounds = [one_round(2.4, 0.03), one_round(3.0, 0.10), one_round(2.5, 0.04)]
    medians = [median_probe([r[i] for r in rounds]) for i in range(3)]
    assert [m.design for m in medians] == ["monolith", "shared-groups", "shared-groups"]
    assert medians[0].steps == 1 and medians[1].steps == 5
    figures = _pipeline_split(*medians, bare_decode=0.001)
    assert figures["triton_request_cpu_s"] == pytest.approx(2.5e-3)
    assert figures["other_fixed_cores"] == pytest.approx(0.04)
    assert figures["other_frame_cpu_s"] == pytest.approx(1e-4)
