"""The control plane against a caller who holds the API token: each attack, as a request, is refused."""

from __future__ import annotations

import pickle

import pytest
import ray
import requests
from ray import serve

from pipeline.config import CameraConfig, ControlConfig, PipelineConfig
from pipeline.control.admission import CameraAdmission
from pipeline.control.app import build_control_app
from pipeline.worker.settings import WorkerSettings

from .conftest import CONTROL, LOBBY_PASSWORD, Plane, camera


def _refused(response: requests.Response, *words: str) -> None:
    assert response.status_code == 403, response.text
    message = response.json()["detail"]["message"]
    assert all(word in message for word in words), message


def test_attack_password_env_of_the_control_token_is_refused(plane: Plane) -> None:
    body = camera("leak-env", credentials={"username": "x", "password_env": "CAMFLEET_CONTROL_TOKEN"})
    _refused(plane.http.post(f"{plane.url}/cameras", json=body, timeout=30), "password_env", "lobby")
    assert plane.status().camera("leak-env") is None


def test_attack_password_file_of_a_local_file_is_refused(plane: Plane) -> None:
    body = camera("leak-file", credentials={"username": "x", "password_file": "/etc/hostname"})
    _refused(plane.http.post(f"{plane.url}/cameras", json=body, timeout=30), "password_file")


def test_attack_unknown_secret_name_is_refused(plane: Plane) -> None:
    body = camera("guess", credentials={"username": "x", "secret": "redis"})
    _refused(plane.http.post(f"{plane.url}/cameras", json=body, timeout=30), "'redis'", "secrets")


def test_attack_local_file_as_camera_is_refused(plane: Plane) -> None:
    body = {"id": "local", "url": "/etc/passwd"}
    _refused(plane.http.post(f"{plane.url}/cameras", json=body, timeout=30), "local files")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "file:///etc/passwd", "tcp://192.0.2.7:554/x"])
def test_attack_url_outside_the_allowed_schemes_and_hosts_is_refused(plane: Plane, url: str) -> None:
    _refused(plane.http.post(f"{plane.url}/cameras", json={"id": "far", "url": url}, timeout=30), "url")


def test_named_secret_allowed_camera_runs_and_its_value_never_crosses_ray(plane: Plane) -> None:
    body = camera("lobby-cam", credentials={"username": "viewer", "secret": "lobby"})
    response = plane.http.post(f"{plane.url}/cameras", json=body, timeout=60)
    assert response.status_code == 201, response.text
    assert plane.status().camera("lobby-cam") is not None
    assert plane.http.delete(f"{plane.url}/cameras/lobby-cam", timeout=30).status_code == 200
    # What travels to a worker (its settings, the camera's config) names the secret, never holds its value.
    config = PipelineConfig.model_validate({"secrets": {"lobby": {"file": str(plane.secret_files[0])}}})
    settings = WorkerSettings.from_config(config, input_size=160, triton_urls=["h:1"], redis_url="redis://h")
    shipped = pickle.dumps((settings, CameraConfig.model_validate(body)))
    assert LOBBY_PASSWORD.encode() not in shipped and b"lobby" in shipped


def test_body_larger_than_the_limit_is_refused_with_413(plane: Plane) -> None:
    body = camera("big", events={"zones": [{"name": "z" * 20_000, "polygon": [[0, 0], [1, 0], [1, 1]]}]})
    response = plane.http.post(f"{plane.url}/cameras", json=body, timeout=30)
    assert response.status_code == 413, response.text


def test_changes_past_the_rate_limit_get_429(plane: Plane) -> None:
    app = build_control_app(
        plane.controller, None, control=ControlConfig(**{**CONTROL, "changes_per_minute": 3})
    )
    serve.run(app, name="limited", route_prefix="/limited")
    try:
        codes = [
            requests.delete(f"{plane.url}/limited/cameras/none", timeout=30).status_code for _ in range(5)
        ]
    finally:
        serve.delete("limited")
    assert codes[:3] == [404, 404, 404] and codes[3:] == [429, 429], codes


def test_controller_is_not_a_named_actor_any_ray_client_could_find(plane: Plane) -> None:
    named = ray.util.list_named_actors(all_namespaces=True)
    assert not [a for a in named if "control" in a["name"].lower() and "serve" not in a["namespace"]], named


def test_admission_default_hosts_refuse_this_machine_and_allow_others() -> None:
    admission = CameraAdmission.from_config(ControlConfig(), secret_names=["lobby"])
    for url in ("rtsp://127.0.0.1/x", "rtsp://localhost/x", "rtsp://[::1]/x", "rtsp://169.254.1.1/x"):
        assert "local-only" in (admission.refusal(CameraConfig(id="c", url=url)) or ""), url
    assert admission.refusal(CameraConfig(id="c", url="rtsp://192.0.2.10:554/live")) is None
    assert "scheme" in (admission.refusal(CameraConfig(id="c", url="tcp://192.0.2.10:9/x")) or "")
    assert "resolve" in (admission.refusal(CameraConfig(id="c", url="rtsp://no-such-host.invalid/x")) or "")
