"""Prometheus exposition of a snapshot, checked with prometheus_client's own text parser."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from pipeline.control.metrics import render_metrics

from .fakes import FakePipeline


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_render_metrics_no_snapshot_reports_pipeline_down() -> None:
    assert samples(render_metrics(None)) == {("camfleet_pipeline_up", ()): 0.0}


def test_render_metrics_snapshot_has_per_camera_and_total_series() -> None:
    got = samples(render_metrics(FakePipeline(("front", "back")).snapshot(), 0.5))
    assert got[("camfleet_pipeline_up", ())] == 1.0
    assert got[("camfleet_camera_fps", (("camera", "front"),))] == 10.0
    assert got[("camfleet_camera_frames_total", (("camera", "back"), ("stage", "in")))] == 51
    assert got[("camfleet_camera_latency_seconds", (("camera", "front"), ("quantile", "0.99")))] == 0.08
    assert math.isnan(got[("camfleet_camera_latency_seconds", (("camera", "back"), ("quantile", "0.5")))])
    info = (("camera", "front"), ("condition", "day"), ("model", "monolith"), ("state", "streaming"))
    assert got[("camfleet_camera_info", info)] == 1.0
    assert got[("camfleet_scheduler_switches_total", ())] == 4
    assert got[("camfleet_inference_errors_total", ())] == 1
    assert got[("camfleet_batcher_dropped_frames_total", (("reason", "queue_full"),))] == 3
    assert got[("camfleet_batches_total", (("size", "8"),))] == 10
    assert got[("camfleet_sink_events_total", (("result", "published"),))] == 7
    assert got[("camfleet_sink_connected", ())] == 1.0


def test_render_metrics_missing_and_odd_fields_are_skipped() -> None:
    got = samples(render_metrics({"cameras": [{"camera_id": "a", "fps": "fast"}], "sink": {"errors": None}}))
    assert got[("camfleet_camera_fps", (("camera", "a"),))] == 0.0
    assert ("camfleet_sink_errors_total", ()) not in got
