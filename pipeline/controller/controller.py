"""The controller: places cameras on camera workers, supervises them, hands them the load signal.

It carries no frames. Once a round (``ray.health_interval_s``) it asks every worker for its status (the
health ping, bounded by ``ray.ping_timeout_s``), compares what each serves with what it should serve
(:class:`~pipeline.controller.placement.Placement`) and closes the gap: a worker missing a camera gets it
(again), a worker that serves a camera it no longer owns drops it, and a dead or hung worker is ended and
its cameras go to live workers or a new one (counted as replacements and logged). Ray does not restart
workers, so placement has one owner. The controller reads Triton's queue times (:class:`LoadMonitor`) and
sends them to every worker, and serves the control plane through typed methods whose
:class:`ControlResult` says what happened.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray

from pipeline.config import CameraConfig, PipelineConfig
from pipeline.controller.load import LoadMonitor
from pipeline.controller.placement import Placement, WorkerRecord
from pipeline.errors import CamfleetError, ConfigError, StreamError
from pipeline.ingest.redact import redact_url
from pipeline.scheduler.config import PolicyConfig, SchedulerConfig
from pipeline.status import (
    CameraStatus,
    FleetStatus,
    LoadSignal,
    MeasurementWindow,
    WorkerStatus,
    WorkerSummary,
)
from pipeline.worker.actor import create_worker
from pipeline.worker.settings import WorkerSettings

logger = logging.getLogger(__name__)

WorkerFactory = Callable[[WorkerSettings, str], Any]

_CALL_TIMEOUT_S = 30.0
_STARTUP_GRACE_S = 120.0  # a new worker may take this long to start (imports, first connection)
_TIMEOUTS_BEFORE_EVACUATION = 2  # a worker that misses this many rounds in a row is replaced


class ControlOutcome(str, enum.Enum):
    """How a control request ended (the REST layer maps each to an HTTP status)."""

    OK = "ok"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class ControlResult:
    """The answer to a control request."""

    outcome: ControlOutcome
    message: str = ""

    @property
    def ok(self) -> bool:
        """Whether the request was applied."""
        return self.outcome is ControlOutcome.OK


class FleetController:
    """Steers a fleet of camera workers (see the module docstring)."""

    def __init__(
        self,
        config: PipelineConfig,
        settings: WorkerSettings,
        *,
        load_monitor: LoadMonitor | None = None,
        worker_factory: WorkerFactory | None = None,
    ) -> None:
        """Keep the config; nothing starts until :meth:`start`.

        Args:
            config: The pipeline config (cameras, Ray placement settings).
            settings: What every worker is started with.
            load_monitor: Reads Triton's statistics; None sends no load signal.
            worker_factory: Starts a worker actor (``create_worker`` with the config's CPUs by default).
        """
        self.config = config
        self.settings = settings
        self.placement = Placement(config.ray.cameras_per_worker)
        self._monitor = load_monitor
        self._factory = worker_factory or self._create_worker
        self._lock = threading.Lock()  # the placement and counters
        self._round = threading.Lock()  # one supervision round at a time
        self._policy: PolicyConfig = config.scheduler.policy
        self._load = LoadSignal()
        self._started = time.monotonic()
        self._created: dict[str, float] = {}
        self._adding: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.replacements = 0
        self.worker_restarts = 0
        self.workers_lost = 0

    def _create_worker(self, settings: WorkerSettings, worker_id: str) -> Any:
        return create_worker(settings, worker_id, num_cpus=self.config.ray.worker_cpus)

    # -- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> list[str]:
        """Place every configured camera and start supervising; returns the ids that failed to start."""
        with self._lock:
            adds = [(self._place(camera), camera) for camera in self.config.cameras]
        failed = [
            camera.id
            for camera, result in zip(self.config.cameras, self._apply_adds(adds), strict=True)
            if not result.ok
        ]
        self._thread = threading.Thread(target=self._supervise_loop, name="camfleet-controller", daemon=True)
        self._thread.start()
        return failed

    def stop(self, drain_timeout_s: float = 10.0) -> FleetStatus:
        """Stop supervising, drain every worker (in parallel) and end them; return the final status."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_CALL_TIMEOUT_S)
        with self._lock:
            records = list(self.placement.workers.values())
        refs = {r.worker_id: r.handle.stop.remote(drain_timeout_s) for r in records}
        ray.wait(list(refs.values()), num_returns=len(refs), timeout=drain_timeout_s + 10)
        for record in records:
            try:
                record.status = ray.get(refs[record.worker_id], timeout=0)
            except (ray.exceptions.RayError, CamfleetError) as exc:
                logger.warning("worker %s did not stop cleanly: %s", record.worker_id, exc)
            ray.kill(record.handle, no_restart=True)
        return self.status()

    # -- control plane (any thread) ------------------------------------------------------------------------

    def add_camera(self, camera: CameraConfig) -> ControlResult:
        """Place and start ``camera`` on a worker; the result says whether it runs."""
        with self._lock:
            if camera.id in self.placement.cameras:
                return ControlResult(ControlOutcome.CONFLICT, f"camera {camera.id!r} is already running")
            worker = self._place(camera)
        result = self._apply_adds([(worker, camera)])[0]
        if result.ok:
            logger.info("camera %s added on %s (%s)", camera.id, worker.worker_id, redact_url(camera.url))
        else:
            with self._lock:
                self.placement.unassign(camera.id)
        return result

    def remove_camera(self, camera_id: str) -> ControlResult:
        """Stop ``camera_id`` wherever it runs; its open tracks end with object_left."""
        with self._lock:
            worker = self.placement.worker_of(camera_id)
            if camera_id not in self.placement.cameras:
                known = ", ".join(sorted(self.placement.cameras)) or "none"
                return ControlResult(ControlOutcome.NOT_FOUND, f"no camera {camera_id!r}; running: {known}")
            self.placement.unassign(camera_id)
        if worker is not None:
            try:
                ray.get(worker.handle.remove_camera.remote(camera_id), timeout=_CALL_TIMEOUT_S)
            except StreamError:
                pass  # it never started there (or already stopped): gone either way
            except (ray.exceptions.RayError, CamfleetError) as exc:
                # The worker is dead or hung: supervision drops the camera if the worker comes back.
                logger.warning("camera %s: its worker did not confirm the removal: %s", camera_id, exc)
        logger.info("camera %s removed", camera_id)
        return ControlResult(ControlOutcome.OK, f"camera {camera_id!r} removed")

    def set_policy(self, policy: PolicyConfig) -> ControlResult:
        """Route every stream with ``policy`` from its next frame on; workers started later use it too."""
        with self._lock:
            self._policy = policy
        asked, failed = self._broadcast("set_policy", policy)
        if failed:
            message = f"policy {policy.type} set; {failed} worker(s) will get it when they answer again"
            return ControlResult(ControlOutcome.OK, message)
        logger.info("scheduler policy is now %s", policy.type)
        return ControlResult(ControlOutcome.OK, f"policy {policy.type} set on {asked} worker(s)")

    def set_window(self, window: MeasurementWindow) -> int:
        """Have every live worker count the frames captured in ``window`` apart; the workers that did not."""
        _, failed = self._broadcast("set_window", window)
        return failed

    def _broadcast(self, method: str, *args: Any) -> tuple[int, int]:
        """Call ``method`` on every live worker (bounded); ``(workers asked, workers that failed)``."""
        with self._lock:
            handles = [r.handle for r in self.placement.workers.values() if r.alive]
        refs = [getattr(handle, method).remote(*args) for handle in handles]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=_CALL_TIMEOUT_S)
        failed = len(refs) - len(ready)
        for ref in ready:
            try:
                ray.get(ref, timeout=0)
            except (ray.exceptions.RayError, CamfleetError) as exc:
                failed += 1
                logger.warning("a worker did not take %s: %s", method, exc)
        return len(refs), failed

    def status(self) -> FleetStatus:
        """The fleet as of the last supervision round."""
        with self._lock:
            records = list(self.placement.workers.values())
            cameras: list[CameraStatus] = []
            served: set[str] = set()
            for record in records:
                if record.alive and record.status is not None:
                    for camera in record.status.cameras:
                        if camera.camera_id in record.cameras:
                            cameras.append(camera)
                            served.add(camera.camera_id)
            unplaced = self.placement.unplaced(served)
            return FleetStatus(
                design=self.config.design,
                policy=self._policy.type,
                uptime_s=round(time.monotonic() - self._started, 1),
                cameras=tuple(sorted(cameras, key=lambda c: c.camera_id)),
                unplaced=tuple(unplaced),
                workers=tuple(WorkerSummary(r.worker_id, r.alive, r.restarts, r.status) for r in records),
                load=self._load,
                replacements=self.replacements,
                worker_restarts=self.worker_restarts,
                workers_lost=self.workers_lost,
            )

    # -- supervision ---------------------------------------------------------------------------------------

    def _supervise_loop(self) -> None:
        interval = self.config.ray.health_interval_s
        while not self._stop.wait(interval):
            try:
                self.supervise_once()
            except Exception:  # a failed round must not end supervision; the next round tries again
                logger.exception("supervision round failed")

    def supervise_once(self) -> None:
        """One round: every worker's status, restarts and deaths handled, placement reconciled, load sent.

        Rounds never overlap (the background loop and a caller asking for a round now take turns).
        """
        with self._round:
            self._supervise()

    def _supervise(self) -> None:
        with self._lock:
            records = list(self.placement.workers.values())
        refs = {r.worker_id: r.handle.status.remote() for r in records}
        ready = set(
            ray.wait(list(refs.values()), num_returns=len(refs), timeout=self.config.ray.ping_timeout_s)[0]
        )
        adds: list[tuple[WorkerRecord, CameraConfig]] = []
        removes: list[tuple[WorkerRecord, str]] = []
        with self._lock:
            homeless: list[str] = []
            for record in records:
                ref = refs[record.worker_id]
                status, error = None, "no answer within the ping timeout"
                if ref in ready:
                    try:
                        status = ray.get(ref, timeout=0)
                    except (ray.exceptions.RayError, CamfleetError) as exc:
                        error = f"{type(exc).__name__}: {exc}"
                if status is None:
                    homeless += self._worker_failed(record, error, definitive=ref in ready)
                    continue
                self._worker_answered(record, status, adds, removes)
            for camera_id in homeless:
                camera = self.placement.cameras[camera_id]
                adds.append((self._place(camera), camera))
        self._apply_adds(adds)
        for record, camera_id in removes:
            record.handle.remove_camera.remote(camera_id)  # fire and forget: the next round checks
        self._send_load()

    def _worker_failed(self, record: WorkerRecord, error: str, *, definitive: bool) -> list[str]:
        """Count a missed round; once the worker is lost, end it and return its cameras to place elsewhere.

        A worker is lost when Ray says its process is gone (killed, crashed, its node removed) or when it
        missed ``_TIMEOUTS_BEFORE_EVACUATION`` rounds in a row (hung). The controller replaces it itself
        rather than letting Ray restart it empty, so there is never a race between a restarted worker and
        the cameras' new placement.
        """
        starting = record.incarnation is None
        age = time.monotonic() - self._created[record.worker_id]
        if starting and not definitive and age < _STARTUP_GRACE_S:
            return []  # still starting: imports and first connections take a while
        record.failures += 1
        if not definitive and record.failures < _TIMEOUTS_BEFORE_EVACUATION:
            return []
        ray.kill(record.handle, no_restart=True)
        self.placement.workers.pop(record.worker_id, None)
        moved = self.placement.evacuate(record)
        self.replacements += len(moved)
        self.workers_lost += 1
        logger.warning(
            "worker %s is lost (%s): moving its %d camera(s) to live workers: %s",
            record.worker_id,
            error,
            len(moved),
            ", ".join(moved) or "none",
        )
        return moved

    def _worker_answered(
        self,
        record: WorkerRecord,
        status: WorkerStatus,
        adds: list[tuple[WorkerRecord, CameraConfig]],
        removes: list[tuple[WorkerRecord, str]],
    ) -> None:
        if record.failures:
            logger.info("worker %s answers again", record.worker_id)
        record.failures = 0
        if record.incarnation is not None and status.incarnation != record.incarnation:
            record.restarts += 1
            self.worker_restarts += 1
            logger.warning(
                "worker %s restarted: giving it its %d camera(s) again", record.worker_id, len(record.cameras)
            )
        if status.incarnation != record.incarnation and self._policy != self.config.scheduler.policy:
            record.handle.set_policy.remote(self._policy)  # it started with the policy of the config file
        record.incarnation, record.status = status.incarnation, status
        served = set(status.camera_ids)
        for camera_id in sorted(record.cameras - served - self._adding):
            adds.append((record, self.placement.cameras[camera_id]))
        for camera_id in sorted(served - record.cameras):
            removes.append((record, camera_id))

    def _place(self, camera: CameraConfig) -> WorkerRecord:
        """Assign ``camera`` to the least loaded live worker with room, or to a new worker (lock held)."""
        worker = self.placement.choose()
        if worker is None:
            worker_id = self.placement.new_worker_id()
            settings = dataclasses.replace(
                self.settings,
                scheduler=SchedulerConfig(policy=self._policy, motion=self.settings.scheduler.motion),
            )
            worker = WorkerRecord(worker_id, self._factory(settings, worker_id))
            self.placement.workers[worker_id] = worker
            self._created[worker_id] = time.monotonic()
            logger.info("started camera worker %s", worker_id)
        self.placement.assign(camera, worker)
        self._adding.add(camera.id)
        return worker

    def _apply_adds(self, adds: list[tuple[WorkerRecord, CameraConfig]]) -> list[ControlResult]:
        """Start the cameras on their workers (in parallel, bounded); one result per camera."""
        refs = [worker.handle.add_camera.remote(camera) for worker, camera in adds]
        ray.wait(refs, num_returns=len(refs), timeout=_STARTUP_GRACE_S if refs else 0)
        results = []
        for (worker, camera), ref in zip(adds, refs, strict=True):
            try:
                ray.get(ref, timeout=0)
                results.append(
                    ControlResult(ControlOutcome.OK, f"camera {camera.id!r} runs on {worker.worker_id}")
                )
            except ConfigError as exc:
                results.append(ControlResult(ControlOutcome.INVALID, str(exc)))
            except ray.exceptions.GetTimeoutError:
                results.append(
                    ControlResult(
                        ControlOutcome.FAILED,
                        f"worker {worker.worker_id} did not start {camera.id!r} in time",
                    )
                )
            except (ray.exceptions.RayError, CamfleetError) as exc:
                message = f"worker {worker.worker_id}: {exc}"
                results.append(ControlResult(ControlOutcome.UNAVAILABLE, message))
        with self._lock:
            self._adding.difference_update(camera.id for _worker, camera in adds)
            for (_worker, camera), result in zip(adds, results, strict=True):
                if result.outcome is ControlOutcome.INVALID:  # it will never start: forget it
                    self.placement.unassign(camera.id)
        for (_worker, camera), result in zip(adds, results, strict=True):
            if not result.ok:  # other failures are retried by the next supervision rounds
                logger.error("camera %s did not start: %s", camera.id, result.message)
        return results

    def _send_load(self) -> None:
        if self._monitor is None:
            return
        self._load = self._monitor.read()
        with self._lock:
            handles = [r.handle for r in self.placement.workers.values() if r.alive and r.status is not None]
        for handle in handles:
            handle.set_load.remote(self._load)  # fire and forget: a newer one follows next round
