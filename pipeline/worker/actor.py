"""The camera worker as a Ray actor: one process per worker, anywhere in the cluster.

The controller creates workers with :func:`create_worker` (spread over nodes, ``worker_cpus`` reserved each)
and talks to them through these typed methods. Ray does not restart a worker: when one dies the controller
places its cameras again itself (see :mod:`pipeline.controller.controller`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import ray

from pipeline.config import CameraConfig
from pipeline.scheduler.config import PolicyConfig
from pipeline.status import CameraStatus, LoadSignal, MeasurementWindow, WorkerStatus
from pipeline.worker.metrics import WorkerMetrics
from pipeline.worker.settings import WorkerSettings
from pipeline.worker.worker import CameraWorker

logger = logging.getLogger(__name__)

_ACTOR_CONCURRENCY = 8  # control calls wait on the loop thread; a few at once keep ping answering
_EXPORT_EVERY_S = 1.0


class CameraWorkerActor:
    """Ray actor around :class:`~pipeline.worker.worker.CameraWorker` (state lives in the instance only)."""

    def __init__(self, settings: WorkerSettings, worker_id: str) -> None:
        """Connect to Triton and Redis and start the worker's loop."""
        node_id = ray.get_runtime_context().get_node_id()
        self._worker = CameraWorker.connect(settings, worker_id=worker_id, node_id=node_id).start()
        self._metrics = WorkerMetrics(worker_id)
        self._exported = 0.0

    def add_camera(self, camera: CameraConfig) -> None:
        """Start serving ``camera`` (see :meth:`CameraWorker.add_camera`)."""
        self._worker.add_camera(camera)

    def remove_camera(self, camera_id: str) -> CameraStatus:
        """Stop serving a camera; its final status (see :meth:`CameraWorker.remove_camera`)."""
        return self._worker.remove_camera(camera_id)

    def set_policy(self, policy: PolicyConfig) -> None:
        """Route with ``policy`` from the next frame on."""
        self._worker.set_policy(policy)

    def set_window(self, window: MeasurementWindow) -> None:
        """Count the frames captured in ``window`` apart (see :class:`~pipeline.status.MeasurementWindow`)."""
        self._worker.set_window(window)

    def set_load(self, load: LoadSignal) -> None:
        """Use the fleet's latest load signal."""
        self._worker.set_load(load)

    def status(self) -> WorkerStatus:
        """Cameras and counters (and, about once a second, their export to Ray's metrics agent)."""
        status = self._worker.status()
        if time.monotonic() - self._exported >= _EXPORT_EVERY_S:
            self._exported = time.monotonic()
            self._metrics.export(status)
        return status

    def stop(self, drain_timeout_s: float = 10.0) -> WorkerStatus:
        """Drain and stop the worker; the actor stays until it is killed."""
        return self._worker.stop(drain_timeout_s)


_RemoteWorker = ray.remote(CameraWorkerActor)


def create_worker(settings: WorkerSettings, worker_id: str, *, num_cpus: float = 0.0, **options: Any) -> Any:
    """Start a :class:`CameraWorkerActor` and return its handle (Ray must be initialised).

    Args:
        settings: What every worker of the fleet shares.
        worker_id: The controller's name for it.
        num_cpus: CPUs it reserves (0 packs any number on a small machine; on a cluster this is what makes
            the autoscaler add nodes as cameras are added).
        **options: Further ``ray.remote`` actor options (``resources``, ``scheduling_strategy``, ...).
    """
    actor_options: dict[str, Any] = {
        "num_cpus": num_cpus,
        "max_concurrency": _ACTOR_CONCURRENCY,
        "max_restarts": 0,  # the controller replaces a dead worker; a Ray restart would race its placement
        "max_task_retries": 0,  # a control call to a dead worker fails to the caller, never runs twice
        "scheduling_strategy": "SPREAD",
        **options,
    }
    return _RemoteWorker.options(**actor_options).remote(settings, worker_id)
