"""The pipeline survives a Triton restart and a Redis restart, counts what it lost, and carries on.

Both tests serve the ``steady_repository`` monolith, whose planted head sees the same objects in every
frame, so events flow at a known, steady rate.
"""

from __future__ import annotations

import json

import pytest
import redis

from pipeline.events.redis_server import EmbeddedRedis
from pipeline.netutil import free_ports
from pipeline.serving.launcher import TritonServer

pytestmark = pytest.mark.timeout(400)

STEADY_EVENTS = {"confirm_frames": 1, "seen_interval_s": 0.5}


def _config(clip, **extra) -> dict:
    return {
        "design": "monolith",
        "cameras": [{"id": "cam", "url": str(clip), "fps": 5}],
        "scheduler": {"policy": {"type": "static"}},
        "events": STEADY_EVENTS,
        **extra,
    }


def _stream_events(url: str) -> list[dict]:
    client = redis.Redis.from_url(url, socket_timeout=2)
    return [json.loads(fields[b"event"]) for _id, fields in client.xrange("camfleet:events")]


@pytest.fixture(scope="module")
def steady_triton(steady_repository, tmp_path_factory):
    with TritonServer(steady_repository, models=["monolith"], run_dir=tmp_path_factory.mktemp("t")) as server:
        yield server


def test_pipeline_triton_restart_counts_losses_and_resumes(run_pipeline, steady_repository, clips, tmp_path):
    http, grpc, metrics = free_ports(3)
    ports = {"http_port": http, "grpc_port": grpc, "metrics_port": metrics}
    server = TritonServer(steady_repository, models=["monolith"], run_dir=tmp_path / "a", **ports).start()
    try:
        with run_pipeline(_config(clips("day")), server.grpc_url) as h:
            h.wait_for(lambda: h.inferred("cam") >= 5, 120, "frames before restart")
            server.stop()
            h.wait_for(
                lambda: h.batcher_total("dropped_inference_error") > 0, 60, "losses counted while down"
            )
            server = TritonServer(steady_repository, models=["monolith"], run_dir=tmp_path / "b", **ports)
            server.start()
            resumed_from = h.inferred("cam")
            h.wait_for(lambda: h.inferred("cam") >= resumed_from + 5, 120, "frames after restart")
            events_after_restart = h.sink_total("published")
            h.wait_for(lambda: h.sink_total("published") > events_after_restart, 30, "events after restart")
            assert h.batcher_total("request_errors") > 0
            assert h.camera("cam").state == "running"
    finally:
        server.stop()


def test_pipeline_redis_restart_delivers_buffered_events(run_pipeline, steady_triton, clips):
    redis_server = EmbeddedRedis().start()
    try:
        with run_pipeline(_config(clips("day")), steady_triton.grpc_url, redis_server.url) as h:
            h.wait_for(lambda: h.sink_total("published") > 0, 120, "events before the restart")
            redis_server.stop()
            h.wait_for(
                lambda: not any(w.sink.connected for w in h.workers()), 30, "sink notices Redis is down"
            )
            h.wait_for(lambda: h.sink_total("buffered") > 0, 30, "events buffered while down")
            published_before = h.sink_total("published")
            redis_server.start()  # same port, empty database (no persistence)
            h.wait_for(lambda: all(w.sink.connected for w in h.workers()), 30, "sink reconnected")
            h.wait_for(lambda: h.sink_total("published") > published_before, 30, "buffered events delivered")
            dropped = h.sink_total("dropped")
        delivered = _stream_events(redis_server.url)
        assert delivered, "no event reached the restarted Redis"
        assert all(event["camera_id"] == "cam" and event["schema_version"] == 1 for event in delivered)
        # The buffer was large enough for the outage: nothing dropped, and the count says so.
        assert dropped == 0
    finally:
        redis_server.stop()
