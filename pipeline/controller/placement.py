"""Which worker serves which camera: the controller's desired state, kept apart from any Ray call.

The controller records here where each camera should run; each supervision round compares that with what
every worker reports and closes the gap (adds what is missing, removes what is extra). A worker that stops
answering loses its cameras to the least loaded live workers, so a dead worker, a dead node or a hung loop
all end the same way: the cameras run elsewhere within a round or two.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import CameraConfig
from pipeline.status import WorkerStatus

logger = logging.getLogger(__name__)


@dataclass
class WorkerRecord:
    """One worker as the controller tracks it.

    Attributes:
        worker_id: The controller's name for it.
        handle: Its Ray actor handle.
        cameras: Cameras assigned to it (the desired state).
        incarnation: The incarnation of its last status; None until the first one.
        status: Its last status.
        failures: Consecutive supervision rounds it did not answer in.
        restarts: Times it came back as a new process.
    """

    worker_id: str
    handle: Any
    cameras: set[str] = field(default_factory=set)
    incarnation: str | None = None
    status: WorkerStatus | None = None
    failures: int = 0
    restarts: int = 0

    @property
    def alive(self) -> bool:
        """Whether it answered the last round (a new worker counts as alive until it fails one)."""
        return self.failures == 0


class Placement:
    """Cameras, workers and the assignment between them (not thread-safe: the controller holds a lock)."""

    def __init__(self, cameras_per_worker: int) -> None:
        """Place at most ``cameras_per_worker`` cameras on a worker."""
        self.cameras_per_worker = cameras_per_worker
        self.cameras: dict[str, CameraConfig] = {}
        self.workers: dict[str, WorkerRecord] = {}
        self._next_id = 0

    def new_worker_id(self) -> str:
        """A fresh worker name (``worker-0``, ``worker-1``, ...)."""
        worker_id = f"worker-{self._next_id}"
        self._next_id += 1
        return worker_id

    def worker_of(self, camera_id: str) -> WorkerRecord | None:
        """The worker ``camera_id`` is assigned to, if any."""
        return next((w for w in self.workers.values() if camera_id in w.cameras), None)

    def choose(self) -> WorkerRecord | None:
        """The live worker with room and the fewest cameras; None when a new worker is needed."""
        open_workers = [
            w for w in self.workers.values() if w.alive and len(w.cameras) < self.cameras_per_worker
        ]
        return min(open_workers, key=lambda w: (len(w.cameras), w.worker_id), default=None)

    def assign(self, camera: CameraConfig, worker: WorkerRecord) -> None:
        """Record that ``worker`` serves ``camera``."""
        self.cameras[camera.id] = camera
        worker.cameras.add(camera.id)

    def unassign(self, camera_id: str) -> WorkerRecord | None:
        """Forget ``camera_id``; return the worker that served it."""
        self.cameras.pop(camera_id, None)
        worker = self.worker_of(camera_id)
        if worker is not None:
            worker.cameras.discard(camera_id)
        return worker

    def evacuate(self, worker: WorkerRecord) -> list[str]:
        """Take every camera off ``worker`` (it died or hangs); return them, to be placed elsewhere."""
        moved = sorted(worker.cameras)
        worker.cameras.clear()
        return moved

    def unplaced(self, served: set[str]) -> list[str]:
        """Cameras known here that no live worker reports serving."""
        return sorted(cid for cid in self.cameras if cid not in served)
