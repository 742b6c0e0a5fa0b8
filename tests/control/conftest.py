"""Fixtures of the control tests: one control plane on Ray Serve in front of a real controller.

The controller is the real one, with real camera workers, the session's Triton and Redis. Its cameras point
at a loopback port nobody listens on, so they back off cheaply instead of decoding: these tests are about the
API, not frames. Serve takes seconds to start on two cores, so one instance serves the whole package: the
token-protected plane at ``/`` and, at ``/gone``, a second app whose controller has been killed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import ray
import requests
from ray import serve

from pipeline.config import ControlConfig, PipelineConfig
from pipeline.control.app import ControlPlane, build_control_app, start_control_plane
from pipeline.controller.actor import create_controller
from pipeline.events.redis_server import EmbeddedRedis
from pipeline.netutil import free_port
from pipeline.serving.launcher import TritonServer
from pipeline.worker.settings import WorkerSettings

TOKEN = "s3cret-token-for-tests"
GONE_PREFIX = "/gone"
NOWHERE = f"tcp://127.0.0.1:{free_port()}"
"""A camera URL nobody listens on: its reader backs off without decoding anything."""


def camera(camera_id: str, **extra: object) -> dict[str, object]:
    return {"id": camera_id, "url": f"{NOWHERE}/{camera_id}", "open_timeout_s": 1, **extra}


LOBBY_PASSWORD = "lobby-pa55word"
"""The value of the config's named secret ``lobby`` (a file the worker reads itself)."""

CONTROL = {"camera_schemes": ["tcp", "rtsp"], "camera_hosts": ["127.0.0.1/32"], "changes_per_minute": 1000}
"""The package plane's policy: cameras at loopback tcp/rtsp URLs (nothing else), no local files."""


def controller_for(config: PipelineConfig, triton: TritonServer, redis: EmbeddedRedis) -> Any:
    settings = WorkerSettings.from_config(
        config, input_size=160, triton_urls=[triton.grpc_url], redis_url=redis.url
    )
    controller = create_controller(config, settings)
    ray.get(controller.start.remote(), timeout=120)
    return controller


@dataclass
class Plane:
    """The control plane with its controller (cameras ``front`` and ``back``) and a session with the token."""

    url: str
    controller: Any
    http: requests.Session
    secret_files: list[Path]

    def status(self) -> Any:
        ray.get(self.controller.supervise_once.remote(), timeout=60)
        return ray.get(self.controller.status.remote(), timeout=60)


@pytest.fixture(scope="package")
def plane(
    ray_session: None,
    triton_server: TritonServer,
    pipeline_redis: EmbeddedRedis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Plane]:
    secret_file = tmp_path_factory.mktemp("secrets") / "lobby"
    secret_file.write_text(LOBBY_PASSWORD + "\n")
    config = PipelineConfig.model_validate(
        {
            "cameras": [camera("front"), camera("back")],
            "control": CONTROL,
            "secrets": {"lobby": {"file": str(secret_file)}},
        }
    )
    controller = controller_for(config, triton_server, pipeline_redis)
    control = start_control_plane(config.control, TOKEN, controller, secret_names=list(config.secrets))
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {TOKEN}"
    try:
        deadline = time.monotonic() + 30
        while requests.get(f"{control.url}/healthz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the control plane never became healthy"
            time.sleep(0.2)
        yield Plane(control.url, controller, http, [secret_file])
    finally:
        http.close()
        control.stop()
        ray.get(controller.stop.remote(5.0), timeout=60)
        ray.kill(controller)


@pytest.fixture(scope="package")
def control_plane_url(plane: Plane) -> str:
    return plane.url


@pytest.fixture(scope="package")
def gone(plane: Plane, triton_server: TritonServer, pipeline_redis: EmbeddedRedis) -> Iterator[str]:
    """The control app in front of a controller that has been killed, without a token, at GONE_PREFIX."""
    controller = controller_for(PipelineConfig(), triton_server, pipeline_redis)
    ray.kill(controller, no_restart=True)
    app = build_control_app(controller, None, control=ControlConfig(**CONTROL), wait_s=2.0)
    serve.run(app, name="gone", route_prefix=GONE_PREFIX)
    try:
        yield plane.url + GONE_PREFIX
    finally:
        serve.delete("gone")


def start_without_serve(config: ControlConfig, token: str | None) -> ControlPlane:
    """``start_control_plane`` for the tests that expect it to refuse before it touches Serve."""
    return start_control_plane(config, token, controller=None)
