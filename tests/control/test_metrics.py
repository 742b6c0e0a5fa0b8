"""Prometheus exposition of a fleet status, checked with prometheus_client's own text parser."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from pipeline.batching import BatcherStats
from pipeline.control.metrics import render_metrics
from pipeline.control.status_page import render_status_page
from pipeline.events.sink import SinkStats
from pipeline.status import CameraStatus, FleetStatus, LoadSignal, ServerStatus, WorkerStatus, WorkerSummary


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def fleet() -> FleetStatus:
    front = CameraStatus(
        "front", worker_id="worker-0", state="running", model="monolith", condition="day", fps=10.0,
        frames_in=51, frames_inferred=45, latency_p50_ms=40.0, latency_p99_ms=80.0,
    )  # fmt: skip
    back = CameraStatus("back<script>", worker_id="worker-0", state="backing_off", last_error="refused")
    worker = WorkerStatus(
        "worker-0", "abc", "node", 1234, cameras=(front, back),
        batcher=BatcherStats(requests=12, request_errors=1, dropped_behind=3, batch_sizes={8: 10, 2: 2}),
        sink=SinkStats(published=7), servers=(ServerStatus("127.0.0.1:8001", True, 0, 12, 1),),
    )  # fmt: skip
    return FleetStatus(
        "monolith",
        "static",
        uptime_s=12.5,
        cameras=(front, back),
        workers=(WorkerSummary("worker-0", True, 0, worker), WorkerSummary("worker-1", False, 2, None)),
        load=LoadSignal(queue_ms={"monolith": 25.0}),
        replacements=3,
    )


def test_render_metrics_no_status_reports_pipeline_down() -> None:
    assert samples(render_metrics(None)) == {("camfleet_pipeline_up", ()): 0.0}


def test_render_metrics_status_has_camera_worker_and_fleet_series() -> None:
    got = samples(render_metrics(fleet()))
    assert got[("camfleet_pipeline_up", ())] == 1.0
    assert got[("camfleet_camera_fps", (("camera", "front"),))] == 10.0
    assert got[("camfleet_camera_frames_total", (("camera", "front"), ("stage", "in")))] == 51
    assert got[("camfleet_camera_latency_seconds", (("camera", "front"), ("quantile", "0.99")))] == 0.08
    assert math.isnan(
        got[("camfleet_camera_latency_seconds", (("camera", "back<script>"), ("quantile", "0.5")))]
    )
    info = (("camera", "front"), ("condition", "day"), ("model", "monolith"), ("state", "running"))
    assert got[("camfleet_camera_info", (*info, ("worker", "worker-0")))] == 1.0
    assert got[("camfleet_inference_errors_total", (("worker", "worker-0"),))] == 1
    assert got[("camfleet_batcher_dropped_frames_total", (("reason", "behind"), ("worker", "worker-0")))] == 3
    assert got[("camfleet_batches_total", (("size", "8"), ("worker", "worker-0")))] == 10
    assert got[("camfleet_sink_events_total", (("result", "published"), ("worker", "worker-0")))] == 7
    assert got[("camfleet_worker_up", (("worker", "worker-1"),))] == 0.0
    assert got[("camfleet_camera_replacements_total", ())] == 3
    assert got[("camfleet_triton_queue_seconds", (("model", "monolith"),))] == 0.025


def test_status_page_escapes_camera_ids_and_shows_lost_workers() -> None:
    page = render_status_page(fleet())
    assert "back&lt;script&gt;" in page and "<script>" not in page
    assert "1 / 2" in page  # workers alive / all
    assert "controller does not answer" in render_status_page(None)
