"""The REST control plane on a running fleet: list, add and remove cameras while others run, metrics."""

from __future__ import annotations

import pytest
import requests

from pipeline.config import ControlConfig
from pipeline.control.app import start_control_plane

pytestmark = pytest.mark.timeout(300)


def test_control_plane_adds_and_removes_cameras_while_others_run(run_pipeline, triton_server, clips):
    config = {
        "design": "monolith",
        "cameras": [{"id": "front", "url": str(clips("day")), "fps": 5}],
        "scheduler": {"policy": {"type": "static"}},
        "ray": {"cameras_per_worker": 1},
    }
    with run_pipeline(config, triton_server.grpc_url) as h:
        plane = start_control_plane(ControlConfig(camera_files=True), None, h.fleet.controller)
        try:
            h.wait_for(lambda: h.inferred("front") >= 3, 120, "first camera")
            health = requests.get(f"{plane.url}/healthz", timeout=10)
            assert health.status_code == 200 and health.json()["status"] == "ok", health.text

            listed = requests.get(f"{plane.url}/cameras", timeout=10).json()
            assert [c["camera_id"] for c in listed["cameras"]] == ["front"]

            before = h.inferred("front")
            added = requests.post(
                f"{plane.url}/cameras",
                json={"id": "back", "url": str(clips("dusk", seed=5)), "fps": 5},
                timeout=60,
            )
            assert added.status_code == 201, added.text
            assert added.headers["Location"] == "/cameras/back"
            h.wait_for(lambda: h.inferred("back") >= 3, 60, "added camera inferring")
            # One camera per worker: the new camera got a worker of its own; the first one kept running.
            assert h.camera("back").worker_id != h.camera("front").worker_id
            assert h.inferred("front") > before

            duplicate = requests.post(f"{plane.url}/cameras", json={"id": "back", "url": "x.mp4"}, timeout=30)
            assert duplicate.status_code == 409, duplicate.text

            metrics = requests.get(f"{plane.url}/metrics", timeout=10).text
            assert 'camfleet_camera_fps{camera="back"}' in metrics
            page = requests.get(f"{plane.url}/", timeout=10).text
            assert "back" in page and "front" in page

            removed = requests.delete(f"{plane.url}/cameras/front", timeout=30)
            assert removed.status_code == 200, removed.text
            h.wait_for(lambda: h.camera("front") is None, 30, "removed camera gone")
            still = h.inferred("back")
            h.wait_for(lambda: h.inferred("back") > still, 30, "the other camera keeps running")
            assert requests.delete(f"{plane.url}/cameras/front", timeout=30).status_code == 404
        finally:
            plane.stop()
