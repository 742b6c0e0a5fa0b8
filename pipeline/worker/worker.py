"""The camera worker: one process that carries a group of cameras from decode to published events.

A :class:`CameraWorker` holds up to ``cameras_per_worker`` cameras. Its reader threads decode, sample and
resize (PyAV releases the GIL); its one loop thread (:meth:`CameraWorker.step`, the only frame loop in
camfleet) routes every frame (scheduler, motion gate), micro-batches per model across its cameras, sends
asynchronous requests to Triton through a balancing :class:`~pipeline.serving.pool.TritonPool`, tracks
(ByteTrack, zones) and publishes events to Redis. No frame leaves the process except inside a Triton
request. The loop sleeps on one event, woken by a new frame, a finished request or a batch falling due.

Control calls (add or remove a camera, change the policy, status) come from other threads, the Ray actor's
(:mod:`pipeline.worker.actor`); they run on the loop thread between steps and return their outcome or raise
to the caller, so the loop's state is touched by its own thread only.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from pipeline.batching import InferenceResult, ModelBatcher, RoutedFrame
from pipeline.config import CameraConfig, SecretConfig
from pipeline.errors import CamfleetError, ConfigError, StreamError
from pipeline.events.config import RedisConfig
from pipeline.events.sink import RedisEventSink
from pipeline.ingest.frames import CameraStats, Frame
from pipeline.ingest.group import CameraGroup
from pipeline.ingest.source import SourceFactory, pyav_source
from pipeline.ingest.spec import CameraSpec
from pipeline.models.designs import ENSEMBLES, get_design
from pipeline.scheduler.config import PolicyConfig
from pipeline.serving.compute_times import ServerComputeTimes
from pipeline.serving.pool import TritonPool
from pipeline.status import CameraStatus, LoadSignal, MeasurementWindow, WorkerStatus
from pipeline.worker.event_stage import EventStage
from pipeline.worker.live_stats import CameraLiveStats, latency_histogram
from pipeline.worker.router import FrameRouter
from pipeline.worker.settings import WorkerSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")

_IDLE_WAIT_S = 0.05  # longest sleep between steps: control calls wait at most about this long
_CALL_TIMEOUT_S = 30.0
_TAKE_MAX = 256  # frames taken from the camera queues per step at most


def camera_spec(camera: CameraConfig, input_size: int, secrets: Mapping[str, SecretConfig]) -> CameraSpec:
    """The ingest spec of a configured camera: credentials resolved here, frames resized to the model input.

    Called inside the worker that opens the stream, so a password never travels through Ray in clear.
    """
    return CameraSpec(
        camera_id=camera.id,
        url=camera.resolved_url(secrets),
        fps=camera.fps,
        width=input_size,
        height=input_size,
        condition=camera.condition,
        rtsp_transport=camera.rtsp_transport,
        realtime=camera.loop,
        loop=camera.loop,
        open_timeout_s=camera.open_timeout_s,
        read_timeout_s=camera.read_timeout_s,
        max_lag_s=camera.max_lag_s,
    )


class CameraWorker:
    """Decode -> route -> gate -> batch -> infer -> track -> publish for a group of cameras."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        triton: TritonPool,
        sink: RedisEventSink,
        worker_id: str = "worker",
        node_id: str = "",
        source_factory: SourceFactory = pyav_source,
    ) -> None:
        """Wire the stages; nothing runs until :meth:`start`.

        Args:
            settings: Design, scheduler, batching and endpoints.
            triton: The Triton servers (a started pool).
            sink: Where events go.
            worker_id: The controller's name for this worker.
            node_id: The Ray node it runs on (for the status).
            source_factory: Builds each camera's source (PyAV by default).
        """
        self.settings = settings
        self.worker_id = worker_id
        self.node_id = node_id
        self.incarnation = uuid.uuid4().hex[:12]
        self.triton = triton
        self.sink = sink
        self._wake = threading.Event()
        self.group = CameraGroup(source_factory=source_factory, notify=self._wake.set)
        self.router = FrameRouter(settings.scheduler, settings.design)
        batching = settings.batching
        # Batches are sized from the servers' own execution times, never from queueing behind other workers.
        self.compute_times = ServerComputeTimes(
            triton.clients, get_design(settings.design).served_models, ensembles=ENSEMBLES
        )
        self.batcher: ModelBatcher[Frame] = ModelBatcher(
            self._submit,
            latency_budget_s=batching.latency_budget_s,
            max_batch=batching.max_batch,
            max_delay_s=batching.window_s,
            max_in_flight=batching.max_in_flight,
            max_age_s=batching.max_frame_age_s,
            server_service=self.compute_times.line,
            server_concurrency=self.compute_times.concurrency,
        )
        self.events = EventStage(settings.events, input_size=settings.input_size, sink=sink)
        self.load = LoadSignal()
        self._frame_shape = (settings.input_size, settings.input_size, 3)
        self._cameras: dict[str, CameraConfig] = {}
        self._live: dict[str, CameraLiveStats] = {}
        self._final: dict[str, CameraStats] = {}
        self._window: MeasurementWindow | None = None
        self._loop_cpu_s = 0.0
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.steps = 0

    @classmethod
    def connect(cls, settings: WorkerSettings, *, worker_id: str, node_id: str = "") -> CameraWorker:
        """A worker with its own Triton pool and Redis sink, built from ``settings``."""
        batching = settings.batching
        pool = TritonPool.connect(
            settings.triton_urls,
            timeout_s=settings.triton.timeout_s,
            use_shared_memory=settings.triton.shared_memory,
            # max_in_flight is per model: one client thread per request the batcher may keep in flight.
            max_in_flight=batching.max_in_flight * len(get_design(settings.design).served_models),
            health_interval_s=settings.triton.health_interval_s,
        )
        password = RedisConfig.password_from_env(os.environ)
        sink = RedisEventSink.from_url(settings.redis_url, settings.redis, password=password)
        return cls(settings, triton=pool, sink=sink, worker_id=worker_id, node_id=node_id)

    # -- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> CameraWorker:
        """Start the loop thread; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("the worker is already started")
        self.compute_times.start()
        self._thread = threading.Thread(target=self._run, name=f"camfleet-{self.worker_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, drain_timeout_s: float = 10.0) -> WorkerStatus:
        """Stop the cameras, finish in-flight batches, close tracks, flush events; return the last status."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=drain_timeout_s + _CALL_TIMEOUT_S)
        self._final.update(self.group.stop())
        self.compute_times.close()
        self._handle_results(self.batcher.drain(drain_timeout_s))
        self.events.close_all()
        if not self.sink.flush(drain_timeout_s):
            logger.warning("events still buffered after %.0f s: %s", drain_timeout_s, self.sink.stats())
        status = self._build_status()
        self.sink.close(drain_timeout_s)
        self.triton.close()
        return status

    @property
    def running(self) -> bool:
        """Whether the loop thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # -- control (any thread) ------------------------------------------------------------------------------

    def call(self, command: Callable[[], T], timeout_s: float = _CALL_TIMEOUT_S) -> T:
        """Run ``command`` on the loop thread before its next step and return its result (or raise its error).

        Raises:
            CamfleetError: if the loop does not run it within ``timeout_s``.
        """
        if not self.running:
            raise CamfleetError(f"worker {self.worker_id} is not running")
        future: Future[T] = Future()
        self._commands.put((command, future))
        self._wake.set()
        try:
            return future.result(timeout_s)
        except TimeoutError as exc:
            raise CamfleetError(f"worker {self.worker_id} did not answer within {timeout_s:g} s") from exc

    def add_camera(self, camera: CameraConfig) -> None:
        """Start serving ``camera``.

        Raises:
            ConfigError: if a camera with that id is already served here, or its credentials cannot be read.
        """
        self.call(lambda: self._add_camera(camera))

    def remove_camera(self, camera_id: str) -> CameraStatus:
        """Stop serving a camera; its open tracks end with object_left. Returns its final status.

        Raises:
            StreamError: if no such camera is served here.
        """
        return self.call(lambda: self._remove_camera(camera_id))

    def set_policy(self, policy: PolicyConfig) -> None:
        """Route every stream with ``policy`` from its next frame on."""
        self.call(lambda: self.router.set_policy(policy))

    def set_window(self, window: MeasurementWindow) -> None:
        """Count the frames captured in ``window`` apart, for every camera (and cameras added later)."""

        def open_window() -> None:
            self._window = window
            for live in self._live.values():
                live.open_window(window)

        self.call(open_window)

    def set_load(self, load: LoadSignal) -> None:
        """Use the fleet's latest load signal (one assignment: safe from any thread)."""
        self.load = load

    def status(self) -> WorkerStatus:
        """The worker's cameras and counters, built on the loop thread (a stuck loop times out here)."""
        return self.call(self._build_status)

    # -- the loop ------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a bug in one step must not end every camera of the worker: log, count, go on
                logger.exception("worker %s: step failed", self.worker_id)
                time.sleep(_IDLE_WAIT_S)
            self._loop_cpu_s = time.thread_time()

    def step(self) -> None:
        """One iteration: control calls, new frames routed and batched, results published, then sleep."""
        self._wake.clear()  # anything that happens from here on wakes the wait at the end of this step
        self.steps += 1
        while not self._commands.empty():
            command, future = self._commands.get_nowait()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(command())
                except Exception as exc:  # the caller gets the error; the loop goes on
                    future.set_exception(exc)
        now = time.monotonic()
        for frame in self.group.take(_TAKE_MAX):
            self._route(frame, now)
        self._handle_results(self.batcher.poll(now))
        due = self.batcher.seconds_until_due(time.monotonic())
        self._wake.wait(_IDLE_WAIT_S if due is None else min(due, _IDLE_WAIT_S))

    def _submit(self, model: str, images: npt.NDArray[np.uint8]) -> Future[npt.NDArray[np.float32]]:
        future = self.triton.infer_async(model, images)
        future.add_done_callback(lambda _done: self._wake.set())
        return future

    def _route(self, frame: Frame, now: float) -> None:
        camera = self._cameras.get(frame.camera_id)
        if camera is None:  # removed while its frames were queued
            return
        live = self._live[frame.camera_id]
        live.frames_in += 1
        image = frame.image
        if image.shape != self._frame_shape or image.dtype != np.uint8:  # a broken source: skip, count, say
            live.frames_malformed += 1
            if live.frames_malformed == 1:
                logger.warning(
                    "camera %s: frame of shape %s and dtype %s skipped (expected %s uint8); counting",
                    frame.camera_id,
                    image.shape,
                    image.dtype,
                    self._frame_shape,
                )
            return
        routing = self.router.route(frame, camera, self.load, now)
        live.model, live.condition = routing.model, routing.condition
        if routing.skipped_motion:
            live.frames_skipped_motion += 1
        if routing.infer:
            self.batcher.add(
                RoutedFrame(routing.model, frame.image, frame, frame.camera_id, frame.capture_ts), now
            )

    def _handle_results(self, results: list[InferenceResult[Frame]]) -> None:
        now, now_wall = time.monotonic(), time.time()
        for result in results:
            frame = result.frame.meta
            camera = self._cameras.get(frame.camera_id)
            if camera is None:  # removed while its frames were in flight
                continue
            confident = self.events.handle(camera, frame, result.frame.model, result.detections)
            if confident is not None:
                live = self._live[frame.camera_id]
                live.record_result(
                    latency_ms=(now - frame.capture_ts) * 1000,
                    detections=confident,
                    now=now,
                    read_wall=frame.wall_time,
                    now_wall=now_wall,
                    media_s=frame.media_time_s,
                )

    # -- commands (loop thread) ----------------------------------------------------------------------------

    def _add_camera(self, camera: CameraConfig) -> None:
        if camera.id in self._cameras:
            raise ConfigError(f"camera id {camera.id!r} is already served by worker {self.worker_id}")
        spec = camera_spec(camera, self.settings.input_size, self.settings.secrets)
        self.group.add_camera(spec)
        self.router.add(camera)
        self._cameras[camera.id] = camera
        # A file read as fast as it decodes has no send times: its frames are dated when read.
        self._live[camera.id] = CameraLiveStats(camera.id, live_source=spec.is_realtime or not spec.is_file)
        if self._window is not None:
            self._live[camera.id].open_window(self._window)
        self._final.pop(camera.id, None)

    def _remove_camera(self, camera_id: str) -> CameraStatus:
        if camera_id not in self._cameras:
            raise StreamError(f"camera {camera_id!r} is not served by worker {self.worker_id}")
        final = self.group.remove_camera(camera_id)
        status = self._camera_status(camera_id, final, time.monotonic())
        self.router.remove(camera_id)
        self.events.close(camera_id)
        del self._cameras[camera_id]
        del self._live[camera_id]
        return status

    # -- status --------------------------------------------------------------------------------------------

    def _camera_status(self, camera_id: str, ingest: CameraStats | None, now: float) -> CameraStatus:
        live = self._live[camera_id]
        window = live.window_count()
        return CameraStatus(
            camera_id=camera_id,
            worker_id=self.worker_id,
            node_id=self.node_id,
            state=ingest.state.value if ingest is not None else "stopped",
            model=live.model,
            condition=live.condition,
            fps=round(live.fps(now), 2),
            frames_decoded=ingest.decoded if ingest is not None else 0,
            frames_in=live.frames_in,
            frames_inferred=live.frames_inferred,
            frames_skipped_motion=live.frames_skipped_motion,
            frames_malformed=live.frames_malformed,
            dropped_decode_queue=ingest.dropped if ingest is not None else 0,
            skipped_to_live=ingest.skipped_to_live if ingest is not None else 0,
            dropped_late=self.batcher.stats.dropped_by_stream.get(camera_id, 0),
            detections=live.detections,
            events=self.events.published.get(camera_id, 0),
            reconnects=ingest.reconnects if ingest is not None else 0,
            last_error=ingest.last_error if ingest is not None else None,
            latency_p50_ms=round(live.latency_percentile(50), 2),
            latency_p99_ms=round(live.latency_percentile(99), 2),
            latency_counts=dict(live.latency_counts),
            window_inferred=window.counted,
            window_discarded=window.discarded,
            window_latency_counts=latency_histogram((f.done_t - f.sent_t) * 1000 for f in window.frames),
            steady_s=round(live.clock.steady_for(time.time()), 2),
        )

    def _build_status(self) -> WorkerStatus:
        now = time.monotonic()
        ingest = {**self._final, **self.group.stats()}
        batcher = self.batcher.stats
        motion = self.router.motion.totals()
        return WorkerStatus(
            worker_id=self.worker_id,
            incarnation=self.incarnation,
            node_id=self.node_id,
            pid=os.getpid(),
            cameras=tuple(self._camera_status(cid, ingest.get(cid), now) for cid in self._cameras),
            batcher=dataclasses.replace(
                batcher,
                batch_sizes=dict(batcher.batch_sizes),
                dropped_by_stream=dict(batcher.dropped_by_stream),
                pacing=self.batcher.pacing(),
            ),
            sink=self.sink.stats(),
            servers=tuple(self.triton.health()),
            failovers=self.triton.failovers,
            motion_passed=motion.passed,
            motion_skipped=motion.skipped,
            scheduler_switches=self.router.scheduler.stats.total,
            cpu_seconds=time.process_time(),
            decode_cpu_s=sum(stats.cpu_s for stats in ingest.values()),
            loop_cpu_s=self._loop_cpu_s,
            transport_cpu_s=self.triton.cpu_seconds,
            at=time.time(),
        )
