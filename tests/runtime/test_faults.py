"""Faults of one camera while others run: real processes, real servers, bounded time.

Each test checks what a user would: the other cameras keep being served, the fault shows in the status and
in ``/metrics`` with a clear state, the camera recovers when the fault ends, and every event the workers
report published is in the Redis stream.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipeline.control.metrics import render_metrics
from pipeline.models import load_model_config
from pipeline.status import FleetStatus
from pipeline.world.tcp import TcpCameraServer

pytestmark = pytest.mark.timeout(300)

STEADY_EVENTS = {"confirm_frames": 1, "seen_interval_s": 0.5}


@pytest.fixture(scope="module")
def steady_triton(steady_repository, tmp_path_factory):
    from pipeline.serving.launcher import TritonServer

    with TritonServer(steady_repository, models=["monolith"], run_dir=tmp_path_factory.mktemp("t")) as server:
        yield server


def _config(faulty_url: str, clip) -> dict:
    return {
        "design": "monolith",
        "cameras": [
            {"id": "faulty", "url": faulty_url, "fps": 5, "open_timeout_s": 2, "read_timeout_s": 2},
            {"id": "steady", "url": str(clip), "fps": 5},
        ],
        "scheduler": {"policy": {"type": "static"}},
        "events": STEADY_EVENTS,
    }


def _state_in_metrics(status: FleetStatus, camera_id: str) -> str | None:
    for family in text_string_to_metric_families(render_metrics(status).decode()):
        for sample in family.samples:
            if sample.name == "camfleet_camera_info" and sample.labels.get("camera") == camera_id:
                return sample.labels["state"]
    return None


def _stream_events(url: str, since_ms: int = 0) -> dict[str, int]:
    """Distinct events per camera in the stream (at least once delivery: a repeat has the same event_id)."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    seen: dict[str, set[str]] = {}
    for _id, fields in client.xrange("camfleet:events", min=f"{since_ms}-0"):
        event = json.loads(fields[b"event"])
        seen.setdefault(event["camera_id"], set()).add(event["event_id"])
    return {camera: len(ids) for camera, ids in seen.items()}


@pytest.fixture
def fresh_redis():
    from pipeline.events.redis_server import EmbeddedRedis

    with EmbeddedRedis() as server:
        yield server


def test_fault_stalled_tcp_camera_backs_off_others_run_it_recovers_no_event_lost(
    run_pipeline, steady_triton, fresh_redis, clips
):
    server = TcpCameraServer(clips("day", seed=12)).start()
    try:
        with run_pipeline(
            _config(server.url, clips("day", seed=13)), steady_triton.grpc_url, fresh_redis.url
        ) as h:
            h.wait_for(lambda: h.inferred("faulty") >= 5 and h.inferred("steady") >= 5, 120, "both streaming")
            server.faults.stalled.set()  # the camera freezes: connection open, no bytes
            h.wait_for(
                lambda: (c := h.camera("faulty")) is not None and c.state == "backing_off", 30, "stall seen"
            )
            status = h.status()
            assert "stalled: no data for 2 s" in (status.camera("faulty").last_error or "")
            assert _state_in_metrics(status, "faulty") == "backing_off"
            steady = h.inferred("steady")
            h.wait_for(lambda: h.inferred("steady") >= steady + 5, 30, "the other camera keeps running")
            server.faults.stalled.clear()
            resumed = h.inferred("faulty")
            h.wait_for(lambda: h.inferred("faulty") >= resumed + 5, 60, "the camera recovers")
            assert h.camera("faulty").state == "running" and h.camera("faulty").reconnects >= 1
        final = h.final
    finally:
        server.stop()
    published = {c.camera_id: c.events for c in final.cameras}
    assert published["faulty"] > 0 and _stream_events(fresh_redis.url) == published


def test_fault_corrupt_bytes_mid_stream_decode_goes_on_or_reconnects(
    run_pipeline, steady_triton, fresh_redis, clips
):
    server = TcpCameraServer(clips("day", seed=14)).start()
    try:
        with run_pipeline(
            _config(server.url, clips("day", seed=15)), steady_triton.grpc_url, fresh_redis.url
        ) as h:
            h.wait_for(lambda: h.inferred("faulty") >= 5, 120, "streaming")
            for _ in range(3):  # 20 KB of garbage, three times, in the middle of the live stream
                server.faults.corrupt_bytes = 20_000
                time.sleep(1.0)
            after = h.inferred("faulty")
            h.wait_for(lambda: h.inferred("faulty") >= after + 5, 60, "frames after the corruption")
            assert h.camera("faulty").state == "running" and h.inferred("steady") > 0
        final = h.final
    finally:
        server.stop()
    published = {c.camera_id: c.events for c in final.cameras}
    assert _stream_events(fresh_redis.url) == published


def _write_resolution_change(source: Path, target: Path, second_size: tuple[int, int]) -> None:
    """Re-encode ``source`` to MPEG-TS whose second half has another resolution (a new SPS mid-stream).

    One video stream, two encoders: the packets of the second half carry their own parameter sets, as a
    camera's do after its operator changes the resolution.
    """
    with av.open(str(source)) as clip:
        frames = [frame.to_ndarray(format="rgb24") for frame in clip.decode(video=0)]
    half = len(frames) // 2
    height, width = frames[0].shape[:2]
    options = {"g": "10", "bf": "0", "sc_threshold": "0"}
    with av.open(str(target), "w", format="mpegts") as output:
        stream = output.add_stream("h264", rate=10, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        second = av.CodecContext.create("h264", "w")
        second.width, second.height, second.pix_fmt = *second_size, "yuv420p"
        second.time_base, second.framerate, second.options = Fraction(1, 10), Fraction(10), options
        for encoder, first, size in ((stream.codec_context, 0, None), (second, half, second_size)):
            for index in range(first, first + half):
                frame = av.VideoFrame.from_ndarray(frames[index], format="rgb24")
                if size is not None:
                    frame = frame.reformat(width=size[0], height=size[1])
                frame.pts, frame.time_base = index, Fraction(1, 10)
                for packet in encoder.encode(frame):
                    packet.stream = stream
                    output.mux(packet)
            for packet in encoder.encode(None):
                packet.stream = stream
                output.mux(packet)


def _event_box_widths(url: str, camera_id: str) -> list[float]:
    client = redis.Redis.from_url(url, socket_timeout=5)
    widths = []
    for _id, fields in client.xrange("camfleet:events"):
        event = json.loads(fields[b"event"])
        if event["camera_id"] == camera_id:
            x1, _y1, x2, _y2 = event["box"]
            widths.append(x2 - x1)
    return widths


def test_fault_resolution_change_mid_stream_decodes_on_and_boxes_follow_the_new_size(
    run_pipeline, steady_triton, fresh_redis, clips, tmp_path
):
    changing = tmp_path / "changing.ts"
    _write_resolution_change(clips("day", seed=22), changing, (320, 180))  # 640x360, then 320x180, looped
    with av.open(str(changing)) as check:
        assert {(f.width, f.height) for f in check.decode(video=0)} == {(640, 360), (320, 180)}
    server = TcpCameraServer(changing).start()
    try:
        with run_pipeline(
            _config(server.url, clips("day", seed=23)), steady_triton.grpc_url, fresh_redis.url
        ) as h:
            h.wait_for(lambda: h.inferred("faulty") >= 5, 120, "streaming")
            start = h.inferred("faulty")
            # A 10 s clip sampled at 5 fps: 60 frames span both changes (down, and up again at the loop).
            h.wait_for(lambda: h.inferred("faulty") >= start + 60, 90, "frames through both changes")
            faulty = h.camera("faulty")
            assert faulty.state == "running" and faulty.frames_inferred > 0
        final = h.final
    finally:
        server.stop()
    published = {c.camera_id: c.events for c in final.cameras}
    assert _stream_events(fresh_redis.url) == published
    # Boxes are in source-frame pixels: the steady model's 32 px boxes (at the model's input size) are
    # twice as wide in the 640x360 part as in the 320x180 part, so each frame was scaled by its own size.
    input_width = load_model_config().input_size
    widths = {round(width) for width in _event_box_widths(fresh_redis.url, "faulty")}
    assert {32 * 640 // input_width, 32 * 320 // input_width} <= widths


def test_fault_truncated_file_is_refused_with_a_clear_error_others_run(
    run_pipeline, steady_triton, fresh_redis, clips, tmp_path
):
    whole = clips("day", seed=16).read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) // 3])  # the moov atom of a fresh MP4 is at the end: gone
    config = _config(str(truncated), clips("day", seed=17))
    with run_pipeline(config, steady_triton.grpc_url, fresh_redis.url) as h:
        h.wait_for(lambda: h.inferred("steady") >= 5, 120, "the good camera streaming")
        h.wait_for(lambda: (c := h.camera("faulty")) is not None and c.last_error is not None, 30, "refused")
        faulty = h.camera("faulty")
        assert faulty.state in ("backing_off", "connecting") and faulty.frames_inferred == 0
        assert "cannot open" in faulty.last_error and "truncated.mp4" in faulty.last_error
        assert _state_in_metrics(h.status(), "faulty") in ("backing_off", "connecting")


def test_fault_redis_at_maxmemory_events_wait_and_are_delivered_after(
    run_pipeline, steady_triton, fresh_redis, clips
):
    client = redis.Redis.from_url(fresh_redis.url, socket_timeout=5)
    with run_pipeline(
        _config(str(clips("day", seed=18)), clips("day", seed=19)), steady_triton.grpc_url, fresh_redis.url
    ) as h:
        h.wait_for(lambda: h.sink_total("published") > 0, 120, "events flowing")
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", "1")  # every write that needs memory is refused (OOM)
        h.wait_for(lambda: h.sink_total("errors") > 0 and h.sink_total("buffered") > 0, 30, "writes refused")
        status = h.status()
        assert not all(w.sink.connected for w in status.live_workers())
        inferred = h.inferred("steady")
        h.wait_for(lambda: h.inferred("steady") >= inferred + 5, 30, "inference goes on meanwhile")
        client.config_set("maxmemory", "0")
        h.wait_for(lambda: h.sink_total("buffered") == 0, 60, "buffered events delivered")
        assert h.sink_total("dropped") == 0
    published = {c.camera_id: c.events for c in h.final.cameras}
    assert _stream_events(fresh_redis.url) == published


def test_fault_slow_redis_replies_delayed_events_wait_and_none_is_lost(
    run_pipeline, steady_triton, fresh_redis, clips
):
    config = _config(str(clips("day", seed=20)), clips("day", seed=21))
    config["redis"] = {"socket_timeout_s": 0.5}
    with run_pipeline(config, steady_triton.grpc_url, fresh_redis.url) as h:
        h.wait_for(lambda: h.sink_total("published") > 0, 120, "events flowing")
        os.kill(fresh_redis.pid, signal.SIGSTOP)  # the server stops answering: every reply is late
        try:
            h.wait_for(lambda: h.sink_total("buffered") > 0, 30, "events waiting for the slow Redis")
            inferred = h.inferred("steady")
            h.wait_for(lambda: h.inferred("steady") >= inferred + 5, 30, "inference goes on meanwhile")
        finally:
            os.kill(fresh_redis.pid, signal.SIGCONT)
        h.wait_for(lambda: h.sink_total("buffered") == 0, 60, "late events delivered")
        assert h.sink_total("dropped") == 0 and h.sink_total("errors") > 0
    published = {c.camera_id: c.events for c in h.final.cameras}
    assert _stream_events(fresh_redis.url) == published


def test_fault_sigterm_under_load_drains_exits_0_and_every_event_is_in_the_stream(
    steady_triton, fresh_redis, clips, tmp_path
):
    cameras = [{"id": f"cam{i}", "url": str(clips("day", seed=30 + i)), "fps": 10} for i in range(4)]
    config = tmp_path / "cameras.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "design": "monolith",
                "cameras": cameras,
                "scheduler": {"policy": {"type": "static"}},
                "events": STEADY_EVENTS,
                "triton": {"urls": [steady_triton.grpc_url]},
                "redis": {"url": fresh_redis.url},
                "control": {"enabled": False},
                "ray": {"num_cpus": 2, "object_store_mb": 96},
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
        deadline = time.monotonic() + 120
        while len(_stream_events(fresh_redis.url)) < len(cameras):  # every camera is publishing: under load
            assert process.poll() is None, process.stderr.read().decode()[-2000:] if process.stderr else ""
            assert time.monotonic() < deadline, "not every camera published within 120 s"
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    final = json.loads(stdout.decode())
    assert b"draining" in stderr
    assert len(final["cameras"]) == len(cameras) and all(c["frames_inferred"] > 0 for c in final["cameras"])
    assert all(w["status"]["sink"]["buffered"] == 0 for w in final["workers"])
    published = {c["camera_id"]: c["events"] for c in final["cameras"]}
    assert _stream_events(fresh_redis.url) == published  # drained: nothing processed was lost on the way out
