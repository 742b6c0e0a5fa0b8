"""End-to-end pipeline tests: real camera decoding in Ray actors, real Triton, real Redis.

The session Triton serves random-weight models, so these tests check routing, batching, state and recovery;
the detections-to-events path with trained weights is covered in ``test_events_end_to_end.py``.
"""

from __future__ import annotations

import pytest

from pipeline.config import CameraConfig
from pipeline.netutil import free_port
from pipeline.world.tcp import TcpCameraServer

pytestmark = pytest.mark.timeout(300)


def _config(design: str, cameras: list[dict], policy: str = "brightness") -> dict:
    return {"design": design, "cameras": cameras, "scheduler": {"policy": {"type": policy}}}


def test_pipeline_day_and_night_cameras_routed_to_their_specialists(
    run_pipeline, triton_server, load_design, clips
):
    load_design("specialists-condition")
    cameras = [
        {"id": "drive", "url": str(clips("day")), "fps": 5},
        {"id": "street", "url": str(clips("night", seed=1)), "fps": 5},
    ]
    with run_pipeline(_config("specialists-condition", cameras), triton_server.grpc_url) as h:
        h.wait_for(
            lambda: (
                h.camera("drive").get("frames_inferred", 0) >= 10
                and h.camera("street").get("frames_inferred", 0) >= 10
            ),
            120,
            "both cameras inferred",
        )
        assert h.camera("drive")["model"] == "specialist_day"
        assert h.camera("street")["model"] == "specialist_night"
        snapshot = h.pipeline.snapshot()
        assert snapshot["batcher"]["request_errors"] == 0
        batches = snapshot["batcher"]["batch_sizes"]
        assert sum(size * count for size, count in batches.items()) == snapshot["batcher"]["frames_done"]


def test_pipeline_scene_turns_night_switches_model_without_stopping(
    run_pipeline, triton_server, load_design, clips
):
    load_design("specialists-condition")
    clip = clips("day", seconds=12.0, seed=2, cycle_s=4.0)  # day for 4 s, then night
    cameras = [{"id": "cycle", "url": str(clip), "fps": 5}]
    with run_pipeline(_config("specialists-condition", cameras), triton_server.grpc_url) as h:
        h.wait_for(lambda: h.camera("cycle").get("model") == "specialist_day", 120, "day model first")
        h.wait_for(lambda: h.camera("cycle").get("model") == "specialist_night", 60, "switch to night")
        after_switch = h.camera("cycle")["frames_inferred"]
        h.wait_for(
            lambda: h.camera("cycle")["frames_inferred"] >= after_switch + 5, 30, "frames after the switch"
        )
        assert h.pipeline.scheduler.stats.total >= 1
        assert h.camera("cycle")["state"] == "running"


def test_pipeline_camera_added_and_removed_at_run_time(run_pipeline, triton_server, clips):
    cameras = [{"id": "first", "url": str(clips("day")), "fps": 5}]
    with run_pipeline(_config("monolith", cameras, "static"), triton_server.grpc_url) as h:
        h.wait_for(lambda: h.camera("first").get("frames_inferred", 0) >= 5, 120, "first camera")
        h.pipeline.add_camera(CameraConfig(id="second", url=str(clips("dusk", seed=3)), fps=5))
        h.wait_for(lambda: h.camera("second").get("frames_inferred", 0) >= 5, 60, "added camera inferring")
        h.pipeline.remove_camera("first")
        h.wait_for(lambda: not h.camera("first"), 30, "removed camera gone")
        before = h.camera("second")["frames_inferred"]
        h.wait_for(lambda: h.camera("second")["frames_inferred"] >= before + 5, 30, "second keeps running")
        assert sorted(h.pipeline.fleet.cameras) == ["second"]


def test_pipeline_dead_camera_backs_off_while_others_run(run_pipeline, triton_server, clips):
    dead_url = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    cameras = [
        {"id": "alive", "url": str(clips("day")), "fps": 5},
        {"id": "dead", "url": dead_url, "fps": 5, "open_timeout_s": 1, "read_timeout_s": 1},
    ]
    with run_pipeline(_config("monolith", cameras, "static"), triton_server.grpc_url) as h:
        h.wait_for(lambda: h.camera("alive").get("frames_inferred", 0) >= 10, 120, "alive camera")
        h.wait_for(lambda: h.camera("dead").get("state") == "backing_off", 30, "dead camera backing off")
        assert h.camera("dead")["last_error"]
        assert h.camera("dead")["frames_inferred"] == 0


def test_pipeline_camera_server_restart_is_resumed(run_pipeline, triton_server, clips):
    server = TcpCameraServer(clips("day", seed=4)).start()
    try:
        cameras = [{"id": "tcp", "url": server.url, "fps": 5, "open_timeout_s": 2, "read_timeout_s": 2}]
        with run_pipeline(_config("monolith", cameras, "static"), triton_server.grpc_url) as h:
            h.wait_for(lambda: h.camera("tcp").get("frames_inferred", 0) >= 5, 120, "camera streaming")
            server.stop()
            h.wait_for(lambda: h.camera("tcp").get("state") == "backing_off", 30, "camera lost")
            down_at = h.camera("tcp")["frames_inferred"]
            server.start()
            h.wait_for(lambda: h.camera("tcp")["frames_inferred"] >= down_at + 5, 60, "camera resumed")
            assert h.camera("tcp")["reconnects"] >= 1
    finally:
        server.stop()


def test_pipeline_rtsp_cameras_through_rtsp_server(
    run_pipeline, triton_server, tmp_path, require_rtsp_server
):
    from pipeline.world.simulator import CameraSimulator

    with CameraSimulator(2, tmp_path, rtsp=True, seconds=4, size=(640, 360), fps=10) as simulator:
        cameras = [
            # rtsp-server-perl answers RTSP over TCP with 400 Bad Request: read over UDP, as it serves.
            {"id": cam.camera_id, "url": cam.url, "fps": 5, "rtsp_transport": "udp", "open_timeout_s": 10}
            for cam in simulator.cameras
        ]
        with run_pipeline(_config("monolith", cameras, "static"), triton_server.grpc_url) as h:
            for cam in simulator.cameras:
                h.wait_for(
                    lambda cam=cam: h.camera(cam.camera_id).get("frames_inferred", 0) >= 10,
                    90,
                    f"RTSP camera {cam.camera_id} inferred",
                )
                h.wait_for(
                    lambda cam=cam: h.camera(cam.camera_id)["state"] == "running", 10, "state reported"
                )
