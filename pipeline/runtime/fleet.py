"""A running fleet seen from the process that started it: the controller's handle and typed calls to it.

:func:`start_fleet` resolves the endpoints of the running services, starts the controller actor and lets
it place the configured cameras on camera workers. The process that holds the :class:`Fleet` steers only:
it never sees a frame.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import ray

from pipeline.config import CameraConfig, PipelineConfig
from pipeline.controller.actor import create_controller
from pipeline.controller.controller import ControlResult
from pipeline.errors import CamfleetError
from pipeline.scheduler.config import PolicyConfig
from pipeline.status import FleetStatus, MeasurementWindow
from pipeline.worker.settings import WorkerSettings

logger = logging.getLogger(__name__)

_CALL_TIMEOUT_S = 60.0
_START_TIMEOUT_S = 300.0  # every worker imports torch-free but heavy modules and opens its cameras


@dataclass
class Fleet:
    """The controller of a running fleet (see the module docstring)."""

    controller: Any
    config: PipelineConfig

    def status(self, timeout_s: float = _CALL_TIMEOUT_S) -> FleetStatus:
        """The fleet as of the controller's last supervision round."""
        status: FleetStatus = ray.get(self.controller.status.remote(), timeout=timeout_s)
        return status

    def add_camera(self, camera: CameraConfig) -> ControlResult:
        """Add a camera; the result says whether it runs."""
        result: ControlResult = ray.get(self.controller.add_camera.remote(camera), timeout=_CALL_TIMEOUT_S)
        return result

    def remove_camera(self, camera_id: str) -> ControlResult:
        """Remove a camera."""
        result: ControlResult = ray.get(
            self.controller.remove_camera.remote(camera_id), timeout=_CALL_TIMEOUT_S
        )
        return result

    def set_policy(self, policy: PolicyConfig) -> ControlResult:
        """Switch every stream to ``policy``."""
        result: ControlResult = ray.get(self.controller.set_policy.remote(policy), timeout=_CALL_TIMEOUT_S)
        return result

    def set_window(self, window: MeasurementWindow) -> None:
        """Have every worker count the frames captured in ``window`` apart (a load-test point).

        Raises:
            CamfleetError: if a worker did not take it (its figures would be missing from the window).
        """
        failed: int = ray.get(self.controller.set_window.remote(window), timeout=_CALL_TIMEOUT_S * 2)
        if failed:
            raise CamfleetError(f"{failed} worker(s) did not open the measurement window")

    def refresh(self) -> FleetStatus:
        """Run a supervision round now and return the status it leaves."""
        ray.get(self.controller.supervise_once.remote(), timeout=_CALL_TIMEOUT_S)
        return self.status()

    def controller_cpu(self) -> tuple[int, float]:
        """``(pid, CPU seconds)`` of the controller's process."""
        pid, seconds = ray.get(self.controller.cpu_seconds.remote(), timeout=_CALL_TIMEOUT_S)
        return int(pid), float(seconds)

    def stop(self, drain_timeout_s: float = 10.0) -> FleetStatus | None:
        """Drain every worker and end the controller; the final status, or None if it did not answer."""
        final: FleetStatus | None = None
        try:
            final = ray.get(
                self.controller.stop.remote(drain_timeout_s), timeout=drain_timeout_s + _CALL_TIMEOUT_S
            )
        except ray.exceptions.RayError as exc:
            logger.warning("the controller did not stop cleanly: %s", exc)
        ray.kill(self.controller, no_restart=True)
        return final


def start_fleet(config: PipelineConfig, *, input_size: int, triton_urls: list[str], redis_url: str) -> Fleet:
    """Start the controller for ``config`` and place the configured cameras on camera workers.

    Args:
        config: The pipeline config.
        input_size: The models' input size (frames are resized to it in the workers).
        triton_urls: Every Triton server (or a name to resolve to them).
        redis_url: Where the workers publish events.

    Cameras that fail to start are logged and retried by supervision; a camera whose config is wrong (its
    password variable unset, say) is reported and left out.
    """
    settings = WorkerSettings.from_config(
        config, input_size=input_size, triton_urls=triton_urls, redis_url=redis_url
    )
    controller = create_controller(config, settings)
    started = time.monotonic()
    failed: list[str] = ray.get(controller.start.remote(), timeout=_START_TIMEOUT_S)
    logger.info(
        "fleet started in %.1f s (pid %d steers; %d camera(s) did not start: %s)",
        time.monotonic() - started,
        os.getpid(),
        len(failed),
        ", ".join(failed) or "none",
    )
    return Fleet(controller, config)
