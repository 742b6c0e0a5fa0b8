"""The control plane as a Ray Serve application: start it next to a pipeline, stop it with the pipeline.

:func:`start_control_plane` starts Ray Serve's HTTP proxy on the configured address and one replica of
:class:`ControlApi` (the FastAPI routes of :mod:`pipeline.control.api`), handing it the controller's actor
handle: the controller is not a named actor, so only the replica and the run process can reach it. Serve's
HTTP options are cluster-wide, so the control plane refuses to start on a Ray cluster where Serve already
runs rather than silently use another port.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import ray
from fastapi import FastAPI
from ray import serve

from pipeline.config import ControlConfig
from pipeline.control.admission import CameraAdmission
from pipeline.control.api import build_api, token_digest
from pipeline.errors import CamfleetError, ConfigError
from pipeline.netutil import LOOPBACK, free_port, wait_for_port

logger = logging.getLogger(__name__)

APP_NAME = "camfleet-control"
"""The Serve application name."""

DEFAULT_WAIT_S = 60.0
"""How long a change (add a camera: a new worker may have to start) may take before it answers 504."""


class ControlApiReplica:
    """The Serve replica: builds the FastAPI app on the controller's handle when it starts."""

    def __init__(
        self,
        controller: Any,
        token_sha256: str | None,
        control: ControlConfig,
        admission: CameraAdmission,
        wait_s: float,
    ) -> None:
        self._app = build_api(
            controller,
            token_sha256=token_sha256,
            admission=admission,
            max_body_bytes=control.max_body_bytes,
            changes_per_minute=control.changes_per_minute,
            wait_s=wait_s,
        )

    def __serve_build_asgi_app__(self) -> FastAPI:
        """The app Serve routes HTTP requests to (Serve calls this after ``__init__``)."""
        return self._app


ControlApi: Any = serve.deployment(
    name="ControlApi", num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=32
)(serve.ingress()(ControlApiReplica))
"""The Serve deployment of :class:`ControlApiReplica` (one replica, no CPU reserved)."""


def build_control_app(
    controller: Any,
    token: str | None,
    *,
    control: ControlConfig | None = None,
    secret_names: Collection[str] = (),
    wait_s: float = DEFAULT_WAIT_S,
) -> Any:
    """The bound Serve application for ``controller`` (only the token's digest travels, no secret value)."""
    control = control or ControlConfig()
    admission = CameraAdmission.from_config(control, secret_names)
    return ControlApi.bind(controller, token_digest(token) if token else None, control, admission, wait_s)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_from_env(config: ControlConfig, environ: Mapping[str, str]) -> str | None:
    """The API token from ``environ[config.token_env]``; None when unset or empty."""
    return environ.get(config.token_env) or None


@dataclass
class ControlPlane:
    """A running control plane: its URL."""

    url: str

    def stop(self, timeout_s: float = 30.0) -> None:
        """Delete camfleet's Serve app; shut Serve down only when no other app runs on it (bounded wait)."""

        def stop_serve() -> None:
            try:
                serve.delete(APP_NAME)
                if not serve.status().applications:
                    serve.shutdown()  # type: ignore[no-untyped-call]
            except Exception as exc:  # a failing shutdown must not hide the pipeline's own stop
                logger.warning("stopping the control plane failed: %r", exc)

        thread = threading.Thread(target=stop_serve, name="camfleet-serve-stop", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            logger.warning("the control plane did not stop within %.0f s; leaving it to Ray", timeout_s)


def start_control_plane(
    config: ControlConfig,
    token: str | None,
    controller: Any,
    *,
    secret_names: Collection[str] = (),
    wait_s: float = DEFAULT_WAIT_S,
) -> ControlPlane:
    """Start the REST control plane on an initialised Ray (see the module docstring).

    Args:
        controller: Handle of the fleet's controller actor.
        secret_names: Names of the config's secrets, the only credentials a camera added through the API may
            name.
        config: Address, port (0 = a free one) and the token's variable name (for messages).
        token: The API token, or None. Required when ``config.host`` is not a loopback address; when
            given, every route but ``/healthz`` requires ``Authorization: Bearer <token>``.
        wait_s: How long a command request waits for the pipeline.

    Returns:
        The running control plane.

    Raises:
        ConfigError: when the plane is disabled, a non-loopback address has no token, or Serve already
            runs on this Ray cluster.
        CamfleetError: when Ray is not initialised or Serve does not come up.
    """
    token = token or None
    if not config.enabled:
        raise ConfigError("control.enabled is false: the control plane must not be started")
    if not is_loopback(config.host) and token is None:
        raise ConfigError(
            f"control.host is {config.host}, which is reachable from other machines: set a token in "
            f"{config.token_env} or bind control.host to 127.0.0.1"
        )
    if not ray.is_initialized():
        raise CamfleetError("start Ray (pipeline.runtime.services.init_local_ray) before the control plane")
    status = serve.status()
    if status.applications or status.proxies:
        raise ConfigError("Ray Serve already runs on this Ray cluster; stop it or set control.enabled: false")
    attempts = 1 if config.port else 3  # a free port can be taken between picking and binding it
    for attempt in range(1, attempts + 1):
        try:
            port = config.port or free_port(config.host)
            return _start(config, token, controller, port, secret_names, wait_s)
        except CamfleetError as exc:
            if attempt == attempts:
                raise
            logger.warning("control plane start failed, trying another port: %s", exc)
    raise AssertionError("unreachable")


def _start(
    config: ControlConfig,
    token: str | None,
    controller: Any,
    port: int,
    secret_names: Collection[str],
    wait_s: float,
) -> ControlPlane:
    plane = ControlPlane(f"http://{_url_host(config.host)}:{port}")
    started = time.monotonic()
    try:
        serve.start(
            proxy_location="HeadOnly",
            http_options={"host": config.host, "port": port},
            logging_config={"log_level": "WARNING"},
        )
        app = build_control_app(controller, token, control=config, secret_names=secret_names, wait_s=wait_s)
        serve.run(app, name=APP_NAME, route_prefix="/")
    except Exception as exc:
        plane.stop()
        raise CamfleetError(f"the control plane did not start on {config.host}:{port}: {exc}") from exc
    if not wait_for_port(port, host=_connect_host(config.host), timeout_s=30.0):
        plane.stop()
        raise CamfleetError(f"the control plane's HTTP proxy is not listening on {config.host}:{port}")
    logger.info("control plane at %s (started in %.1f s)", plane.url, time.monotonic() - started)
    return plane


def _connect_host(host: str) -> str:
    return LOOPBACK if host in ("0.0.0.0", "::", "") else host


def _url_host(host: str) -> str:
    host = _connect_host(host)
    return f"[{host}]" if ":" in host else host
