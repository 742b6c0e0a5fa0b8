"""The controller as a Ray actor, so that the REST control plane (Ray Serve) can call its typed methods.

The actor is created by ``camfleet run`` and is not named: only holders of its handle (the run process and
the control plane's Serve replica, which gets the handle when it is deployed) can steer the fleet.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import ray

from pipeline.config import CameraConfig, PipelineConfig
from pipeline.controller.controller import ControlResult, FleetController
from pipeline.controller.load import LoadMonitor
from pipeline.models.designs import get_design
from pipeline.scheduler.config import PolicyConfig
from pipeline.serving.pool import TritonPool
from pipeline.status import FleetStatus, MeasurementWindow
from pipeline.worker.settings import WorkerSettings

logger = logging.getLogger(__name__)

_RESOLVE_EVERY_S = 10.0
_CONCURRENCY = 16  # control requests from Serve and the run process wait on workers; supervision has a thread


class ControllerActor:
    """Ray actor around :class:`~pipeline.controller.controller.FleetController`."""

    def __init__(self, config: PipelineConfig, settings: WorkerSettings) -> None:
        """Connect to the Triton servers for statistics and build the controller (nothing placed yet)."""
        self._triton = TritonPool.connect(
            settings.triton_urls,
            timeout_s=min(settings.triton.timeout_s, 5.0),
            use_shared_memory=False,
            max_in_flight=1,
            # Statistics are read once a round anyway; the pool's own checks only pick up new addresses.
            health_interval_s=max(settings.triton.health_interval_s, _RESOLVE_EVERY_S),
        )
        served = list(get_design(config.design).served_models)
        monitor = LoadMonitor(self._triton.clients, served)
        self._controller = FleetController(config, settings, load_monitor=monitor)

    def start(self) -> list[str]:
        """Place the configured cameras and start supervising; the ids that did not start."""
        return self._controller.start()

    def add_camera(self, camera: CameraConfig) -> ControlResult:
        """Add a camera (see :meth:`FleetController.add_camera`)."""
        return self._controller.add_camera(camera)

    def remove_camera(self, camera_id: str) -> ControlResult:
        """Remove a camera (see :meth:`FleetController.remove_camera`)."""
        return self._controller.remove_camera(camera_id)

    def set_policy(self, policy: PolicyConfig) -> ControlResult:
        """Switch the scheduler policy (see :meth:`FleetController.set_policy`)."""
        return self._controller.set_policy(policy)

    def status(self) -> FleetStatus:
        """The fleet as of the last supervision round."""
        return self._controller.status()

    def set_window(self, window: MeasurementWindow) -> int:
        """Have every worker count the frames captured in ``window`` apart; the workers that did not."""
        return self._controller.set_window(window)

    def supervise_once(self) -> None:
        """Run one supervision round now (tests and benchmarks use it to avoid waiting)."""
        self._controller.supervise_once()

    def cpu_seconds(self) -> tuple[int, float]:
        """``(pid, CPU seconds)`` of the controller's process (for the benchmarks)."""
        return os.getpid(), time.process_time()

    def stop(self, drain_timeout_s: float = 10.0) -> FleetStatus:
        """Drain and end every worker; return the final status."""
        status = self._controller.stop(drain_timeout_s)
        self._triton.close()
        return status


_RemoteController = ray.remote(ControllerActor)


HEAD_NODE_RESOURCE = "node:__internal_head__"
"""A resource only the Ray head node has: the controller lives there, beside the cluster's own control."""


def create_controller(config: PipelineConfig, settings: WorkerSettings) -> Any:
    """Start a :class:`ControllerActor` on the head node (no CPU reserved: it carries no frames).

    On the head, the loss of a worker node never takes the controller with it; the head's own loss ends
    the Ray cluster anyway.
    """
    return _RemoteController.options(
        num_cpus=0, max_concurrency=_CONCURRENCY, resources={HEAD_NODE_RESOURCE: 0.001}
    ).remote(config, settings)
