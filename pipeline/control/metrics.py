"""Prometheus text exposition of the fleet's typed status (``GET /metrics`` of the control plane).

Each scrape builds a fresh registry with one collector over a :class:`~pipeline.status.FleetStatus`: per
camera (frames by stage, drops, latency, events), per worker (Triton requests and errors, batcher drops,
Redis sink) and for the fleet (workers alive, replacements, load signal). Counters are the workers' own
totals, so a worker restart shows as a counter reset, which Prometheus handles. The workers also export
their counters through Ray's metrics agent on every node (:mod:`pipeline.worker.metrics`); this endpoint is
the one-stop view for a single scrape target.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline.status import FleetStatus, WorkerStatus

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The exposition format's content type."""

_FRAME_STAGES = {
    "decoded": "frames_decoded",
    "in": "frames_in",
    "inferred": "frames_inferred",
    "skipped_motion": "frames_skipped_motion",
    "malformed": "frames_malformed",
}
_WORKER_DROPS = {
    "behind": "dropped_behind",
    "stale": "dropped_stale",
    "inference_error": "dropped_inference_error",
}


class FleetCollector(Collector):
    """Yields the metric families of one :class:`FleetStatus` (None: only ``camfleet_pipeline_up 0``)."""

    def __init__(self, status: FleetStatus | None) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        """Metric families for the registry."""
        status = self._status
        yield GaugeMetricFamily(
            "camfleet_pipeline_up", "1 when the controller answers.", value=0.0 if status is None else 1.0
        )
        if status is None:
            return
        yield GaugeMetricFamily(
            "camfleet_uptime_seconds", "Seconds since the controller started.", value=status.uptime_s
        )
        yield GaugeMetricFamily(
            "camfleet_aggregate_fps", "Inferred frames per second, all cameras.", value=status.aggregate_fps
        )
        yield GaugeMetricFamily(
            "camfleet_cameras_unplaced", "Cameras not served by a live worker.", value=len(status.unplaced)
        )
        yield CounterMetricFamily(
            "camfleet_camera_replacements",
            "Cameras moved off a dead or hung worker.",
            value=status.replacements,
        )
        yield CounterMetricFamily(
            "camfleet_workers_lost", "Workers that died or hung and were replaced.", value=status.workers_lost
        )
        yield CounterMetricFamily(
            "camfleet_worker_restarts",
            "Worker processes that came back and got their cameras again.",
            value=status.worker_restarts,
        )
        alive = GaugeMetricFamily("camfleet_worker_up", "1 while a worker answers.", labels=["worker"])
        for worker in status.workers:
            alive.add_metric([worker.worker_id], 1.0 if worker.alive else 0.0)
        yield alive
        queue = GaugeMetricFamily(
            "camfleet_triton_queue_seconds",
            "Mean Triton queue time per request (load signal).",
            labels=["model"],
        )
        for model, ms in sorted(status.load.queue_ms.items()):
            queue.add_metric([model], ms / 1000.0)
        yield queue
        yield from self._cameras(status)
        yield from self._workers(status.live_workers())

    @staticmethod
    def _cameras(status: FleetStatus) -> Iterator[Metric]:
        info = InfoMetricFamily(
            "camfleet_camera", "Current model, condition, state and worker of each camera."
        )
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
        detections = CounterMetricFamily(
            "camfleet_camera_detections", "Confident detections.", labels=["camera"]
        )
        events = CounterMetricFamily("camfleet_camera_events", "Tracker events published.", labels=["camera"])
        reconnects = CounterMetricFamily(
            "camfleet_camera_reconnects", "Stream reconnects.", labels=["camera"]
        )
        for camera in status.cameras:
            cid = camera.camera_id
            info.add_metric(
                [cid],
                {
                    "camera": cid,
                    "model": camera.model,
                    "condition": camera.condition,
                    "state": camera.state,
                    "worker": camera.worker_id,
                },
            )
            fps.add_metric([cid], camera.fps)
            for stage, key in _FRAME_STAGES.items():
                frames.add_metric([cid, stage], float(getattr(camera, key)))
            dropped.add_metric([cid, "decode_queue"], float(camera.dropped_decode_queue))
            dropped.add_metric([cid, "behind_live"], float(camera.skipped_to_live))
            dropped.add_metric([cid, "late"], float(camera.dropped_late))
            for quantile, ms in (("0.5", camera.latency_p50_ms), ("0.99", camera.latency_p99_ms)):
                latency.add_metric([cid, quantile], ms / 1000.0 if math.isfinite(ms) else math.nan)
            detections.add_metric([cid], float(camera.detections))
            events.add_metric([cid], float(camera.events))
            reconnects.add_metric([cid], float(camera.reconnects))
        yield from (info, fps, frames, dropped, latency, detections, events, reconnects)

    @staticmethod
    def _workers(workers: list[WorkerStatus]) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "camfleet_inference_requests", "Batched requests sent to Triton.", labels=["worker"]
        )
        errors = CounterMetricFamily(
            "camfleet_inference_errors", "Triton requests that failed.", labels=["worker"]
        )
        failovers = CounterMetricFamily(
            "camfleet_inference_failovers", "Requests a failing server handed to another.", labels=["worker"]
        )
        drops = CounterMetricFamily(
            "camfleet_batcher_dropped_frames",
            "Frames the batcher dropped, by reason.",
            labels=["worker", "reason"],
        )
        sizes = CounterMetricFamily(
            "camfleet_batches", "Triton requests by batch size.", labels=["worker", "size"]
        )
        sink = CounterMetricFamily(
            "camfleet_sink_events", "Events by sink result.", labels=["worker", "result"]
        )
        sink_errors = CounterMetricFamily("camfleet_sink_errors", "Redis write errors.", labels=["worker"])
        buffered = GaugeMetricFamily(
            "camfleet_sink_buffered", "Events waiting to be written.", labels=["worker"]
        )
        connected = GaugeMetricFamily(
            "camfleet_sink_connected", "1 while Redis takes events (up, not full).", labels=["worker"]
        )
        servers = GaugeMetricFamily(
            "camfleet_triton_server_healthy",
            "1 while a worker sees the server ready.",
            labels=["worker", "server"],
        )
        for worker in workers:
            wid = worker.worker_id
            requests.add_metric([wid], float(worker.batcher.requests))
            errors.add_metric([wid], float(worker.batcher.request_errors))
            failovers.add_metric([wid], float(worker.failovers))
            for reason, key in _WORKER_DROPS.items():
                drops.add_metric([wid, reason], float(getattr(worker.batcher, key)))
            for size, count in sorted(worker.batcher.batch_sizes.items()):
                sizes.add_metric([wid, str(size)], float(count))
            sink.add_metric([wid, "published"], float(worker.sink.published))
            sink.add_metric([wid, "dropped"], float(worker.sink.dropped))
            sink_errors.add_metric([wid], float(worker.sink.errors))
            buffered.add_metric([wid], float(worker.sink.buffered))
            connected.add_metric([wid], 1.0 if worker.sink.connected else 0.0)
            for server in worker.servers:
                servers.add_metric([wid, server.url], 1.0 if server.healthy else 0.0)
        yield from (
            requests,
            errors,
            failovers,
            drops,
            sizes,
            sink,
            sink_errors,
            buffered,
            connected,
            servers,
        )


def render_metrics(status: FleetStatus | None) -> bytes:
    """The Prometheus text exposition of ``status`` (None: the controller did not answer)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(status))
    return generate_latest(registry)
