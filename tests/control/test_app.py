"""The REST control plane over real HTTP: Ray Serve on a free loopback port, a real controller behind it."""

from __future__ import annotations

import pytest
import ray
import requests
from prometheus_client.parser import text_string_to_metric_families

from pipeline.config import ControlConfig
from pipeline.errors import ConfigError

from .conftest import TOKEN, Plane, camera, start_without_serve


def test_get_cameras_lists_the_controllers_cameras(plane: Plane) -> None:
    response = plane.http.get(f"{plane.url}/cameras", timeout=10)
    assert response.status_code == 200
    body = response.json()
    listed = {c["camera_id"] for c in body["cameras"]} | set(body["unplaced"])
    assert {"front", "back"} <= listed and body["design"] == "monolith"
    for row in body["cameras"]:
        assert row["latency_p50_ms"] is None  # no frame inferred: NaN in the status, null in JSON


def test_post_cameras_new_id_returns_201_and_runs_on_a_worker(plane: Plane) -> None:
    response = plane.http.post(f"{plane.url}/cameras", json=camera("garage", fps=5), timeout=60)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == "/cameras/garage"
    status = plane.status()
    assert status.camera("garage") is not None and status.camera("garage").worker_id
    assert plane.http.delete(f"{plane.url}/cameras/garage", timeout=30).status_code == 200


def test_post_cameras_duplicate_id_returns_409(plane: Plane) -> None:
    response = plane.http.post(f"{plane.url}/cameras", json=camera("front"), timeout=30)
    assert response.status_code == 409
    assert "already running" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (camera("bad id!"), "id"),
        ({"id": "nourl"}, "url"),
        (camera("fast", fps=500), "fps"),
        (camera("extra", colour="red"), "colour"),
    ],
)
def test_post_cameras_invalid_body_returns_422_naming_field(plane: Plane, body: dict, field: str) -> None:
    response = plane.http.post(f"{plane.url}/cameras", json=body, timeout=10)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert field in [e["field"] for e in detail["errors"]] and field in detail["message"]


def test_post_cameras_body_not_json_returns_422(plane: Plane) -> None:
    response = plane.http.post(f"{plane.url}/cameras", data=b"{not json", timeout=10)
    assert response.status_code == 422


def test_post_camera_whose_secret_file_is_gone_returns_422_and_is_not_kept(plane: Plane, tmp_path) -> None:
    # The worker reads the secret when it opens the stream: a secret it cannot read is the request's fault.
    status = ray.get(plane.controller.status.remote(), timeout=30)
    assert status.workers  # the package plane's worker is the one that would read it
    body = camera("locked", credentials={"username": "viewer", "secret": "lobby"})
    secret = next(iter(plane.secret_files))
    saved = secret.read_text()
    secret.unlink()
    try:
        response = plane.http.post(f"{plane.url}/cameras", json=body, timeout=60)
    finally:
        secret.write_text(saved)
    assert response.status_code == 422, response.text
    assert "cannot read secret file" in response.json()["message"]
    status = plane.status()
    assert status.camera("locked") is None and "locked" not in status.unplaced


def test_delete_camera_unknown_returns_404(plane: Plane) -> None:
    response = plane.http.delete(f"{plane.url}/cameras/nosuchcam", timeout=30)
    assert response.status_code == 404
    assert "nosuchcam" in response.json()["message"]


def test_delete_camera_known_returns_200_and_removes(plane: Plane) -> None:
    assert plane.http.post(f"{plane.url}/cameras", json=camera("porch"), timeout=60).status_code == 201
    response = plane.http.delete(f"{plane.url}/cameras/porch", timeout=30)
    assert response.status_code == 200, response.text
    status = plane.status()
    assert status.camera("porch") is None and "porch" not in status.unplaced


def test_put_policy_brightness_reaches_workers(plane: Plane) -> None:
    response = plane.http.put(f"{plane.url}/policy", json={"type": "brightness"}, timeout=30)
    assert response.status_code == 200, response.text
    assert plane.status().policy == "brightness"
    assert plane.http.put(f"{plane.url}/policy", json={"type": "static"}, timeout=30).status_code == 200


def test_put_policy_unknown_type_returns_422(plane: Plane) -> None:
    response = plane.http.put(f"{plane.url}/policy", json={"type": "moon_phase"}, timeout=10)
    assert response.status_code == 422
    assert "type" in response.json()["detail"]["message"]


def test_metrics_parse_and_have_per_camera_and_worker_series(plane: Plane) -> None:
    plane.status()  # a fresh supervision round
    response = plane.http.get(f"{plane.url}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert {"front", "back"} <= {s.labels["camera"] for s in families["camfleet_camera_fps"].samples}
    assert {s.value for s in families["camfleet_worker_up"].samples} == {1.0}
    assert families["camfleet_pipeline_up"].samples[0].value == 1.0


def test_status_page_lists_cameras(plane: Plane) -> None:
    plane.status()
    response = plane.http.get(f"{plane.url}/", timeout=10)
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert "<td>front</td>" in response.text


def test_healthz_returns_200_without_token(plane: Plane) -> None:
    response = requests.get(f"{plane.url}/healthz", timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer"])
def test_request_missing_or_wrong_bearer_returns_401(plane: Plane, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for method, path in (("GET", "/cameras"), ("GET", "/metrics"), ("DELETE", "/cameras/front")):
        response = requests.request(method, f"{plane.url}{path}", headers=headers, timeout=10)
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "front" in {c.camera_id for c in plane.status().cameras}
    assert requests.get(f"{plane.url}/openapi.json", timeout=10).status_code == 404


def test_controller_gone_healthz_and_changes_return_503(gone: str) -> None:
    health = requests.get(f"{gone}/healthz", timeout=10)
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    assert requests.get(f"{gone}/cameras", timeout=10).status_code == 503
    assert requests.post(f"{gone}/cameras", json=camera("late"), timeout=10).status_code == 503
    metrics = requests.get(f"{gone}/metrics", timeout=10).text
    assert "camfleet_pipeline_up 0.0" in metrics


def test_start_non_loopback_without_token_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="CAMFLEET_CONTROL_TOKEN"):
        start_without_serve(ControlConfig(host="0.0.0.0"), None)
    with pytest.raises(ConfigError, match="token"):
        start_without_serve(ControlConfig(host="192.0.2.7"), "")


def test_start_disabled_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="enabled"):
        start_without_serve(ControlConfig(enabled=False), TOKEN)


def test_start_serve_already_running_raises_config_error(plane: Plane) -> None:
    with pytest.raises(ConfigError, match="already runs"):
        start_without_serve(ControlConfig(), TOKEN)
