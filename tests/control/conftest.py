"""Fixtures of the control tests: one local Ray, one control plane on Ray Serve, a fake pipeline driving it.

Serve takes seconds to start on two cores, so one instance serves the whole package: the token-protected
control plane at ``/`` and, for the tests that need a pipeline that never polls, a second app at ``/idle``.
Package scope: Serve is shut down before other test packages run; Ray is the session's (``ray_session``
in ``tests/conftest.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import ray
import requests
from ray import serve

from pipeline.config import ControlConfig
from pipeline.control.app import ControlPlane, build_control_app, start_control_plane
from pipeline.control.bridge import ControlBridge
from pipeline.control.channel import create_channel, new_channel_name

from .fakes import FakePipeline, LoopThread

TOKEN = "s3cret-token-for-tests"
IDLE_PREFIX = "/idle"


@pytest.fixture(scope="package")
def control_plane(ray_session: None) -> Iterator[ControlPlane]:
    """The control plane on a free loopback port, with a token; Serve is shut down at the end."""
    plane = start_control_plane(ControlConfig(host="127.0.0.1", port=0), TOKEN)
    try:
        yield plane
    finally:
        plane.stop()


@dataclass
class Driven:
    """The control plane with a fake pipeline polled by a real bridge."""

    url: str
    pipeline: FakePipeline
    bridge: ControlBridge
    http: requests.Session


@pytest.fixture(scope="package")
def driven(control_plane: ControlPlane) -> Iterator[Driven]:
    """A fake pipeline with cameras ``front`` and ``back`` behind the control plane, healthy."""
    pipeline = FakePipeline(("front", "back"))
    bridge = ControlBridge(control_plane.channel, pipeline, confirm_timeout_s=1.0)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {TOKEN}"
    with LoopThread(pipeline, bridge), http:
        deadline = time.monotonic() + 15
        while http.get(f"{control_plane.url}/healthz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the control plane never became healthy"
            time.sleep(0.1)
        yield Driven(control_plane.url, pipeline, bridge, http)


@dataclass
class Idle:
    """A second app on the same Serve with its own channel that no pipeline polls, and no token."""

    url: str
    channel: object


@pytest.fixture(scope="package")
def idle(control_plane: ControlPlane) -> Iterator[Idle]:
    """The control app without a token and without a pipeline, at :data:`IDLE_PREFIX`."""
    name = new_channel_name()
    channel = create_channel(name)
    serve.run(build_control_app(name, None, wait_s=2.0), name="idle", route_prefix=IDLE_PREFIX)
    try:
        yield Idle(control_plane.url + IDLE_PREFIX, channel)
    finally:
        serve.delete("idle")
        ray.kill(channel)
