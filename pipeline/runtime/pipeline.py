"""The pipeline loop: frames from camera actors, routed per stream, batched per model, tracked, published.

One driver thread runs :meth:`Pipeline.step` in a loop. Each step keeps one ``take_batch`` Ray call in
flight per camera actor (one Ray call per batch of frames, never per frame), routes every frame with the
scheduler and the motion gate, hands it to the per-model batcher (bounded in-flight Triton requests), and
turns finished detections into tracker events for the Redis sink. Between steps the thread sleeps on one
event, woken when frames arrive, a request finishes or a partial batch falls due, so an idle or
inference-bound pipeline spends no CPU on polling. Control requests (add or remove a camera,
change the policy) are queued with :meth:`Pipeline.call_soon` and run between steps, so the loop's state is
only touched by its own thread.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import ray

from pipeline.batching import InferenceResult, ModelBatcher, RoutedFrame
from pipeline.config import CameraConfig, PipelineConfig
from pipeline.control.bridge import ControlBridge
from pipeline.events.sink import RedisEventSink
from pipeline.ingest.frames import Frame
from pipeline.models.model_config import ModelConfig
from pipeline.runtime.cameras import CameraFleet
from pipeline.runtime.event_stage import EventStage
from pipeline.runtime.stats import PipelineStats
from pipeline.scheduler.base import CameraLocation, Observation
from pipeline.scheduler.config import PolicyConfig
from pipeline.scheduler.frames import frame_stats
from pipeline.scheduler.motion import MotionGate
from pipeline.scheduler.scheduler import Scheduler
from pipeline.serving.client import TritonClient

logger = logging.getLogger(__name__)

_STATS_EVERY_S = 1.0
# A take call waits this long in the actor for a first frame, so an idle fleet costs few Ray calls...
_TAKE_WAIT_S = 0.05
# ...and, once a frame is there, up to this long for a full batch, so one call carries several frames.
_GATHER_S = 0.02
_IDLE_WAIT_S = 0.05  # longest sleep between steps (commands and control polls wait at most this long)
_QUEUE_EWMA = 0.1  # weight of the newest request in the smoothed inference wait


class Pipeline:
    """The running pipeline of one ``cameras.yaml`` (see the module docstring)."""

    def __init__(
        self,
        config: PipelineConfig,
        *,
        model_config: ModelConfig,
        triton: TritonClient,
        sink: RedisEventSink,
    ) -> None:
        self.config = config
        self.model_config = model_config
        self.triton = triton
        self.sink = sink
        self.fleet = CameraFleet(
            input_size=model_config.input_size,
            per_actor=config.ray.cameras_per_actor,
            actor_cpus=config.ray.camera_actor_cpus,
        )
        self.scheduler = Scheduler.from_config(config.scheduler.policy, config.design)
        self.scheduler_policy: str = config.scheduler.policy.type
        self.motion = MotionGate(config.scheduler.motion)
        self._wake = threading.Event()
        self.batcher: ModelBatcher[Frame] = ModelBatcher(
            self._submit,
            max_batch=config.triton.max_batch,
            max_in_flight=config.triton.max_in_flight,
            max_age_s=config.triton.max_frame_age_s,
        )
        self.stats = PipelineStats()
        self.events = EventStage(config.events, input_size=model_config.input_size, sink=sink)
        self._locations: dict[str, CameraLocation | None] = {}
        self._fps_credit: dict[str, float] = {}
        self._takes: dict[Any, Any] = {}  # actor handle -> outstanding take_batch ref
        self._stats_ref: list[Any] = []
        self._stats_due = 0.0
        self._inference_wait_ms = 0.0
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.control: ControlBridge | None = None  # set when the REST control plane runs

    # -- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start decoding every configured camera."""
        for camera in self.config.cameras:
            self._add_camera(camera)

    def run(self, stop: threading.Event, *, duration_s: float | None = None) -> None:
        """Step until ``stop`` is set or ``duration_s`` has passed."""
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            self.step()

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Drain: stop the cameras, finish in-flight batches, close tracks, flush events."""
        self.fleet.stop()
        self._takes.clear()
        self._handle_results(self.batcher.drain(drain_timeout_s))
        self.events.close_all()
        if not self.sink.flush(drain_timeout_s):
            logger.warning("events still buffered after %.0f s: %s", drain_timeout_s, self.sink.stats())

    # -- control (thread-safe) -----------------------------------------------------------------------------

    def call_soon(self, command: Callable[[], None]) -> None:
        """Run ``command`` on the pipeline thread before its next step."""
        self._commands.put(command)

    def add_camera(self, camera: CameraConfig) -> None:
        """Add a camera at run time (thread-safe)."""
        self.call_soon(lambda: self._add_camera(camera))

    def remove_camera(self, camera_id: str) -> None:
        """Remove a camera at run time (thread-safe); its open tracks end with object_left."""
        self.call_soon(lambda: self._remove_camera(camera_id))

    def set_policy(self, policy: PolicyConfig) -> None:
        """Switch every stream to another scheduler policy (thread-safe); streams keep running."""

        def swap() -> None:
            old = self.scheduler
            self.scheduler = Scheduler.from_config(policy, self.config.design)
            self.scheduler.stats = old.stats
            self.scheduler_policy = policy.type
            logger.info("scheduler policy is now %s", policy.type)

        self.call_soon(swap)

    # -- the loop ------------------------------------------------------------------------------------------

    def _submit(self, model: str, images: Any) -> Any:
        """Send one batch to Triton; its completion wakes the loop."""
        future = self.triton.infer_async(model, images)
        future.add_done_callback(self._wake_up)
        return future

    def _wake_up(self, _done: object = None) -> None:
        self._wake.set()

    def step(self) -> None:
        """One iteration: run commands, collect frames, route them, send batches, publish results, sleep."""
        self._wake.clear()  # anything that finishes from here on wakes the sleep at the end of this step
        while not self._commands.empty():
            self._run_command(self._commands.get_nowait())
        now = time.monotonic()
        self._request_frames()
        refs = list(self._takes.values())
        ready = ray.wait(refs, num_returns=len(refs), timeout=0)[0] if refs else []
        for actor, ref in [(a, r) for a, r in self._takes.items() if r in ready]:
            del self._takes[actor]
            try:
                batch = ray.get(ref)
            except ray.exceptions.RayError as exc:
                logger.error("camera actor call failed: %s", exc)
                continue
            if batch is not None:
                for frame in batch.frames():
                    self._route(frame, now)
        self._handle_results(self.batcher.poll())
        if now >= self._stats_due:
            self._refresh_camera_stats(now)
        if self.control is not None:
            self.control.poll()
        self._request_frames()
        due = self.batcher.seconds_until_due(time.monotonic())
        self._wake.wait(_IDLE_WAIT_S if due is None else min(due, _IDLE_WAIT_S))

    def _request_frames(self) -> None:
        """Keep one ``take_batch`` call in flight per camera actor; its answer wakes the loop."""
        for group in self.fleet.groups:
            if group.actor not in self._takes:
                ref = group.actor.take_batch.remote(self.config.triton.max_batch, _TAKE_WAIT_S, _GATHER_S)
                ref.future().add_done_callback(self._wake_up)
                self._takes[group.actor] = ref
                self.stats.ray_calls += 1

    def _run_command(self, command: Callable[[], None]) -> None:
        try:
            command()
        except Exception as exc:  # a bad control request must not stop the pipeline
            logger.error("control command failed: %s", exc)

    def _add_camera(self, camera: CameraConfig) -> None:
        self.fleet.add(camera)
        self.scheduler.add_stream(camera.id)
        location = camera.location
        self._locations[camera.id] = (
            CameraLocation(location.latitude, location.longitude, location.timezone) if location else None
        )
        self.stats.camera(camera.id)

    def _remove_camera(self, camera_id: str) -> None:
        self.fleet.remove(camera_id)
        self.scheduler.remove_stream(camera_id)
        self.motion.forget(camera_id)
        self.events.close(camera_id)
        self.stats.cameras.pop(camera_id, None)

    def _route(self, frame: Frame, now: float) -> None:
        camera = self.fleet.cameras.get(frame.camera_id)
        if camera is None:  # removed while its frames were on the way
            return
        live = self.stats.camera(frame.camera_id)
        live.frames_in += 1
        image_stats = frame_stats(frame.image)
        route = self.scheduler.route(
            Observation(
                camera_id=frame.camera_id,
                frame_time=dt.datetime.fromtimestamp(frame.wall_time, tz=dt.timezone.utc),
                location=self._locations.get(frame.camera_id),
                fixed_condition=camera.condition,
                mean_luma=image_stats.mean_luma,
                chroma=image_stats.chroma,
                queue_ms=self._inference_wait_ms,
                lag_s=max(0.0, now - frame.capture_ts),
                monotonic_s=frame.capture_ts,
            )
        )
        if route.changed:
            self.stats.scheduler_switches += 1
        live.model, live.condition = route.model, route.decision.condition
        if route.decision.fps_factor < 1.0:  # load shedding: keep that share of the frames, evenly spaced
            credit = self._fps_credit.get(frame.camera_id, 0.0) + route.decision.fps_factor
            self._fps_credit[frame.camera_id] = credit % 1.0
            if credit < 1.0:
                return
        if not self.motion.should_infer(frame.camera_id, frame.image, frame.capture_ts):
            live.frames_skipped_motion += 1
            return
        self.batcher.add(RoutedFrame(route.model, frame.image, frame), now)

    def _handle_results(self, results: list[InferenceResult[Frame]]) -> None:
        now = time.monotonic()
        for result in results:
            frame = result.frame.meta
            camera = self.fleet.cameras.get(frame.camera_id)
            if camera is None:  # removed while its frames were in flight
                continue
            wait_ms = (now - frame.capture_ts) * 1000
            self._inference_wait_ms += _QUEUE_EWMA * (wait_ms - self._inference_wait_ms)
            confident = self.events.handle(camera, frame, result.frame.model, result.detections)
            if confident is not None:
                live = self.stats.camera(frame.camera_id)
                live.record_result(latency_ms=wait_ms, detections=confident, now=now)
                live.events = self.events.published.get(frame.camera_id, 0)

    def _refresh_camera_stats(self, now: float) -> None:
        """Read the actors' counters without blocking the loop: ask now, read on a later step."""
        if self._stats_ref:
            done = ray.wait(self._stats_ref, num_returns=len(self._stats_ref), timeout=0)[0]
            if len(done) < len(self._stats_ref):
                return
            for part in ray.get(done):
                for camera_id, stats in part.items():
                    if camera_id in self.stats.cameras:
                        live = self.stats.cameras[camera_id]
                        live.state = stats.state.value
                        live.dropped_decode_queue = stats.dropped
                        live.reconnects = stats.reconnects
                        live.last_error = stats.last_error
        self._stats_ref = [g.actor.stats.remote() for g in self.fleet.groups]
        self._stats_due = now + _STATS_EVERY_S

    # -- reporting -----------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view of the pipeline (cameras, batcher, scheduler, sink)."""
        now = time.monotonic()
        sink = self.sink.stats()
        motion = self.motion.totals()
        return {
            "design": self.config.design,
            "policy": self.scheduler_policy,
            "uptime_s": round(now - self.stats.started, 1),
            "aggregate_fps": round(self.stats.aggregate_fps(now), 2),
            "cameras": [c.snapshot(now) for c in self.stats.cameras.values()],
            "batcher": self.batcher.stats.to_dict(),
            "scheduler_switches": self.scheduler.stats.total,
            "motion": {"passed": motion.passed, "skipped": motion.skipped, "forced": motion.forced},
            "sink": dataclasses.asdict(sink),
            "ray_calls": self.stats.ray_calls,
        }
