"""Prometheus text exposition of a pipeline snapshot (``GET /metrics``).

The snapshot is the JSON-ready dict of ``Pipeline.snapshot()``. Each scrape builds a fresh registry with
one collector that turns the snapshot into metric families: counters keep the pipeline's own totals, so a
pipeline restart shows as a counter reset, which Prometheus handles. Missing keys are skipped, not errors:
the snapshot may gain or lose fields without breaking the scrape.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The exposition format's content type."""

_CAMERA_FRAMES = {"in": "frames_in", "inferred": "frames_inferred", "skipped_motion": "frames_skipped_motion"}
_CAMERA_COUNTERS = {
    "detections": ("detections", "Detections decoded from inferred frames."),
    "events": ("events", "Tracker events published."),
    "reconnects": ("reconnects", "Stream reconnects."),
}
_LATENCY = {"0.5": "latency_p50_ms", "0.99": "latency_p99_ms"}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


class SnapshotCollector(Collector):
    """Yields the metric families of one snapshot (None: only ``camfleet_pipeline_up 0``)."""

    def __init__(self, snapshot: Mapping[str, Any] | None, age_s: float | None) -> None:
        self._snapshot = snapshot
        self._age_s = age_s

    def collect(self) -> Iterator[Metric]:
        """Metric families for the registry."""
        up = GaugeMetricFamily("camfleet_pipeline_up", "1 when the pipeline has published a snapshot.")
        up.add_metric([], 0.0 if self._snapshot is None else 1.0)
        yield up
        if self._snapshot is None:
            return
        snap = self._snapshot
        if self._age_s is not None:
            yield GaugeMetricFamily(
                "camfleet_snapshot_age_seconds", "Age of the latest pipeline snapshot.", value=self._age_s
            )
        yield from self._gauges(
            snap,
            {
                "uptime_s": ("camfleet_uptime_seconds", "Seconds since the pipeline started."),
                "aggregate_fps": ("camfleet_aggregate_fps", "Inferred frames per second, all cameras."),
            },
        )
        yield from self._cameras(snap.get("cameras") or [])
        switches = _number(snap.get("scheduler_switches"))
        if switches is not None:
            yield CounterMetricFamily(
                "camfleet_scheduler_switches", "Model switches made by the scheduler.", value=switches
            )
        ray_calls = _number(snap.get("ray_calls"))
        if ray_calls is not None:
            yield CounterMetricFamily("camfleet_ray_calls", "Ray calls made by the driver.", value=ray_calls)
        yield from self._batcher(snap.get("batcher") or {})
        yield from self._labelled(
            "camfleet_motion_frames", "Frames by motion gate result.", "result", snap.get("motion") or {}
        )
        yield from self._sink(snap.get("sink") or {})

    @staticmethod
    def _gauges(data: Mapping[str, Any], names: Mapping[str, tuple[str, str]]) -> Iterator[Metric]:
        for key, (name, doc) in names.items():
            value = _number(data.get(key))
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=value)

    @staticmethod
    def _labelled(name: str, doc: str, label: str, values: Mapping[str, Any]) -> Iterator[Metric]:
        family = CounterMetricFamily(name, doc, labels=[label])
        for key, value in values.items():
            number = _number(value)
            if number is not None:
                family.add_metric([str(key)], number)
        yield family

    @staticmethod
    def _cameras(cameras: Iterable[Mapping[str, Any]]) -> Iterator[Metric]:
        info = InfoMetricFamily("camfleet_camera", "Current model, condition and state of each camera.")
        fps = GaugeMetricFamily("camfleet_camera_fps", "Inferred frames per second.", labels=["camera"])
        frames = CounterMetricFamily("camfleet_camera_frames", "Frames by stage.", labels=["camera", "stage"])
        dropped = CounterMetricFamily(
            "camfleet_camera_dropped_frames", "Frames dropped, by reason.", labels=["camera", "reason"]
        )
        latency = GaugeMetricFamily(
            "camfleet_camera_latency_seconds",
            "Capture-to-result latency over recent frames (NaN before the first).",
            labels=["camera", "quantile"],
        )
        counters = {
            key: CounterMetricFamily(f"camfleet_camera_{name}", doc, labels=["camera"])
            for key, (name, doc) in _CAMERA_COUNTERS.items()
        }
        for camera in cameras:
            cid = str(camera.get("camera_id", ""))
            info.add_metric(
                [cid],
                {
                    "camera": cid,
                    "model": str(camera.get("model") or ""),
                    "condition": str(camera.get("condition") or ""),
                    "state": str(camera.get("state") or ""),
                },
            )
            fps.add_metric([cid], _number(camera.get("fps")) or 0.0)
            for stage, key in _CAMERA_FRAMES.items():
                frames.add_metric([cid, stage], _number(camera.get(key)) or 0.0)
            dropped.add_metric([cid, "decode_queue"], _number(camera.get("dropped_decode_queue")) or 0.0)
            for quantile, key in _LATENCY.items():
                ms = _number(camera.get(key))
                latency.add_metric([cid, quantile], math.nan if ms is None else ms / 1000.0)
            for key, family in counters.items():
                family.add_metric([cid], _number(camera.get(key)) or 0.0)
        yield from (info, fps, frames, dropped, latency, *counters.values())

    @staticmethod
    def _batcher(batcher: Mapping[str, Any]) -> Iterator[Metric]:
        frames = CounterMetricFamily(
            "camfleet_batcher_frames", "Frames through the batcher.", labels=["stage"]
        )
        dropped = CounterMetricFamily(
            "camfleet_batcher_dropped_frames", "Frames the batcher dropped, by reason.", labels=["reason"]
        )
        for key, value in batcher.items():
            number = _number(value)
            if number is None:
                continue
            if key in ("frames_in", "frames_done"):
                frames.add_metric([key.removeprefix("frames_")], number)
            elif key.startswith("dropped_"):
                dropped.add_metric([key.removeprefix("dropped_")], number)
        yield frames
        yield dropped
        for key, name, doc in (
            ("requests", "camfleet_inference_requests", "Batched requests sent to Triton."),
            ("request_errors", "camfleet_inference_errors", "Triton requests that failed."),
        ):
            number = _number(batcher.get(key))
            if number is not None:
                yield CounterMetricFamily(name, doc, value=number)
        sizes = CounterMetricFamily("camfleet_batches", "Triton requests by batch size.", labels=["size"])
        for size, count in (batcher.get("batch_sizes") or {}).items():
            number = _number(count)
            if number is not None:
                sizes.add_metric([str(size)], number)
        yield sizes

    @staticmethod
    def _sink(sink: Mapping[str, Any]) -> Iterator[Metric]:
        events = CounterMetricFamily("camfleet_sink_events", "Events by sink result.", labels=["result"])
        for key in ("published", "dropped"):
            number = _number(sink.get(key))
            if number is not None:
                events.add_metric([key], number)
        yield events
        for key, family in (
            ("errors", CounterMetricFamily("camfleet_sink_errors", "Redis write errors.")),
            ("buffered", GaugeMetricFamily("camfleet_sink_buffered", "Events waiting to be written.")),
            ("connected", GaugeMetricFamily("camfleet_sink_connected", "1 while Redis is reachable.")),
        ):
            number = _number(sink.get(key))
            if number is not None:
                family.add_metric([], number)
                yield family


def render_metrics(snapshot: Mapping[str, Any] | None, age_s: float | None = None) -> bytes:
    """The Prometheus text exposition of ``snapshot`` (None: the pipeline has not published yet)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot, age_s))
    return generate_latest(registry)
