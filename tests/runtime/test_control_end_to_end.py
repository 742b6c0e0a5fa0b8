"""The REST control plane on a running pipeline: list, add and remove cameras, metrics, health."""

from __future__ import annotations

import pytest
import requests

from pipeline.config import ControlConfig
from pipeline.control.app import start_control_plane
from pipeline.control.bridge import ControlBridge

pytestmark = pytest.mark.timeout(300)


def test_control_plane_adds_and_removes_cameras_of_a_running_pipeline(run_pipeline, triton_server, clips):
    config = {
        "design": "monolith",
        "cameras": [{"id": "front", "url": str(clips("day")), "fps": 5}],
        "scheduler": {"policy": {"type": "static"}},
    }
    with run_pipeline(config, triton_server.grpc_url) as h:
        plane = start_control_plane(ControlConfig(), None)
        try:
            h.pipeline.control = ControlBridge(plane.channel, h.pipeline)
            h.wait_for(lambda: h.camera("front").get("frames_inferred", 0) >= 3, 120, "first camera")
            h.wait_for(lambda: requests.get(f"{plane.url}/healthz", timeout=5).ok, 30, "healthy")

            listed = requests.get(f"{plane.url}/cameras", timeout=10).json()
            assert [c["camera_id"] for c in listed["cameras"]] == ["front"]

            added = requests.post(
                f"{plane.url}/cameras",
                json={"id": "back", "url": str(clips("dusk", seed=5)), "fps": 5},
                timeout=30,
            )
            assert added.status_code == 201, added.text
            h.wait_for(lambda: h.camera("back").get("frames_inferred", 0) >= 3, 60, "added camera inferring")

            duplicate = requests.post(f"{plane.url}/cameras", json={"id": "back", "url": "x.mp4"}, timeout=30)
            assert duplicate.status_code == 409

            metrics = requests.get(f"{plane.url}/metrics", timeout=10).text
            assert 'camfleet_camera_fps{camera="back"' in metrics or 'camera="back"' in metrics

            removed = requests.delete(f"{plane.url}/cameras/front", timeout=30)
            assert removed.status_code in (200, 204), removed.text
            h.wait_for(lambda: not h.camera("front"), 30, "removed camera gone")
            assert requests.delete(f"{plane.url}/cameras/front", timeout=30).status_code == 404
        finally:
            plane.stop()
