"""The REST control plane over real HTTP: Ray Serve on a free loopback port, a fake pipeline behind it."""

from __future__ import annotations

import time

import pytest
import ray
import requests
from prometheus_client.parser import text_string_to_metric_families

from pipeline.config import ControlConfig
from pipeline.control.app import ControlPlane, start_control_plane
from pipeline.errors import ConfigError

from .conftest import TOKEN, Driven, Idle


def camera(camera_id: str, **extra: object) -> dict[str, object]:
    return {"id": camera_id, "url": f"rtsp://127.0.0.1:8554/{camera_id}", **extra}


def test_get_cameras_lists_snapshot_cameras(driven: Driven) -> None:
    response = driven.http.get(f"{driven.url}/cameras", timeout=10)
    assert response.status_code == 200
    body = response.json()
    cameras = {c["camera_id"]: c for c in body["cameras"]}
    assert {"front", "back"} <= set(cameras) and body["design"] == "monolith"
    assert cameras["front"]["latency_p50_ms"] == 40.0
    assert cameras["back"]["latency_p50_ms"] is None  # NaN in the snapshot, null in JSON


def test_post_cameras_new_id_returns_201_and_reaches_pipeline(driven: Driven) -> None:
    started = time.monotonic()
    response = driven.http.post(f"{driven.url}/cameras", json=camera("garage", fps=5), timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == "/cameras/garage"
    assert driven.pipeline.cameras["garage"].fps == 5.0
    listed = driven.http.get(f"{driven.url}/cameras", timeout=10).json()["cameras"]
    assert "garage" in {c["camera_id"] for c in listed}  # the answer waits for the snapshot that shows it
    assert elapsed < 2.0


def test_post_cameras_duplicate_id_returns_409(driven: Driven) -> None:
    response = driven.http.post(f"{driven.url}/cameras", json=camera("front"), timeout=30)
    assert response.status_code == 409
    assert "already exists" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (camera("bad id!"), "id"),
        ({"id": "nourl"}, "url"),
        (camera("fast", fps=500), "fps"),
        (camera("extra", colour="red"), "colour"),
    ],
)
def test_post_cameras_invalid_body_returns_422_naming_field(
    driven: Driven, body: dict[str, object], field: str
) -> None:
    response = driven.http.post(f"{driven.url}/cameras", json=body, timeout=10)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert field in [e["field"] for e in detail["errors"]] and field in detail["message"]


def test_post_cameras_body_not_json_returns_422(driven: Driven) -> None:
    response = driven.http.post(f"{driven.url}/cameras", data=b"{not json", timeout=10)
    assert response.status_code == 422


def test_delete_camera_unknown_returns_404(driven: Driven) -> None:
    response = driven.http.delete(f"{driven.url}/cameras/nosuchcam", timeout=30)
    assert response.status_code == 404
    assert "nosuchcam" in response.json()["message"]


def test_delete_camera_known_returns_200_and_removes(driven: Driven) -> None:
    assert driven.http.post(f"{driven.url}/cameras", json=camera("porch"), timeout=30).status_code == 201
    response = driven.http.delete(f"{driven.url}/cameras/porch", timeout=30)
    assert response.status_code == 200, response.text
    assert "porch" not in driven.pipeline.cameras


def test_post_camera_failing_in_pipeline_returns_500(driven: Driven) -> None:
    driven.pipeline.refuse.add("dead")
    response = driven.http.post(f"{driven.url}/cameras", json=camera("dead"), timeout=30)
    assert response.status_code == 500 and "see its log" in response.json()["message"]


def test_put_policy_brightness_reaches_pipeline(driven: Driven) -> None:
    response = driven.http.put(f"{driven.url}/policy", json={"type": "brightness"}, timeout=30)
    assert response.status_code == 200, response.text
    assert driven.pipeline.policies[-1].type == "brightness"


def test_put_policy_unknown_type_returns_422(driven: Driven) -> None:
    response = driven.http.put(f"{driven.url}/policy", json={"type": "moon_phase"}, timeout=10)
    assert response.status_code == 422
    assert "type" in response.json()["detail"]["message"]


def test_metrics_parse_and_have_per_camera_series(driven: Driven) -> None:
    response = driven.http.get(f"{driven.url}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    fps = {s.labels["camera"] for s in families["camfleet_camera_fps"].samples}
    assert {"front", "back"} <= fps
    assert {s.labels["model"] for s in families["camfleet_camera_info"].samples} == {"monolith"}
    assert families["camfleet_inference_errors"].samples[0].value == 1


def test_status_page_lists_cameras(driven: Driven) -> None:
    response = driven.http.get(f"{driven.url}/", timeout=10)
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert "<td>front</td>" in response.text


def test_healthz_pipeline_publishing_returns_200_without_token(driven: Driven) -> None:
    response = requests.get(f"{driven.url}/healthz", timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer"])
def test_request_missing_or_wrong_bearer_returns_401(driven: Driven, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for method, path in (("GET", "/cameras"), ("GET", "/metrics"), ("DELETE", "/cameras/front")):
        response = requests.request(method, f"{driven.url}{path}", headers=headers, timeout=10)
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "front" in driven.pipeline.cameras
    assert requests.get(f"{driven.url}/openapi.json", timeout=10).status_code == 404


def test_healthz_before_first_snapshot_returns_503(idle: Idle) -> None:
    response = requests.get(f"{idle.url}/healthz", timeout=10)
    assert response.status_code == 503 and response.json()["status"] == "starting"
    assert requests.get(f"{idle.url}/cameras", timeout=10).status_code == 503


def test_post_cameras_pipeline_not_polling_returns_503_at_once(idle: Idle) -> None:
    started = time.monotonic()
    response = requests.post(f"{idle.url}/cameras", json=camera("late"), timeout=10)
    assert response.status_code == 503 and "not polling" in response.json()["message"]
    assert time.monotonic() - started < 1.0


def test_healthz_after_snapshot_returns_200_and_no_token_needed(idle: Idle) -> None:
    ray.get(idle.channel.publish_snapshot.remote({"cameras": []}), timeout=10)  # type: ignore[attr-defined]
    assert requests.get(f"{idle.url}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{idle.url}/metrics", timeout=10).status_code == 200


def test_start_non_loopback_without_token_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="CAMFLEET_CONTROL_TOKEN"):
        start_control_plane(ControlConfig(host="0.0.0.0"), None)
    with pytest.raises(ConfigError, match="token"):
        start_control_plane(ControlConfig(host="192.0.2.7"), "")


def test_start_disabled_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="enabled"):
        start_control_plane(ControlConfig(enabled=False), TOKEN)


def test_start_serve_already_running_raises_config_error(control_plane: ControlPlane) -> None:
    with pytest.raises(ConfigError, match="already runs"):
        start_control_plane(ControlConfig(), TOKEN)
