"""A hand-written stand-in for the pipeline's control surface, and a thread that drives it like the loop."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from pipeline.config import CameraConfig
from pipeline.control.bridge import ControlBridge
from pipeline.errors import StreamError
from pipeline.scheduler.config import PolicyConfig


class FakePipeline:
    """Like ``Pipeline``: the thread-safe methods queue commands that run on the loop thread's next step.

    A camera id in ``refuse`` fails to start on the loop thread (logged and dropped there, as the real
    pipeline does), so it never shows in a snapshot.
    """

    def __init__(self, camera_ids: tuple[str, ...] = ()) -> None:
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.cameras: dict[str, CameraConfig] = {
            cid: CameraConfig(id=cid, url=f"/clips/{cid}.mp4") for cid in camera_ids
        }
        self.policies: list[PolicyConfig] = []
        self.refuse: set[str] = set()
        self.failed: list[str] = []
        self.snapshot_error: Exception | None = None

    def add_camera(self, camera: CameraConfig) -> None:
        self._commands.put(lambda: self._add(camera))

    def remove_camera(self, camera_id: str) -> None:
        self._commands.put(lambda: self.cameras.pop(camera_id))

    def set_policy(self, policy: PolicyConfig) -> None:
        self._commands.put(lambda: self.policies.append(policy))

    def _add(self, camera: CameraConfig) -> None:
        if camera.id in self.refuse:
            raise StreamError(f"cannot open {camera.id}")
        self.cameras[camera.id] = camera

    def step(self) -> None:
        while not self._commands.empty():
            try:
                self._commands.get_nowait()()
            except Exception as exc:  # as Pipeline._run_command: logged, never raised
                self.failed.append(str(exc))

    def snapshot(self) -> dict[str, Any]:
        if self.snapshot_error is not None:
            raise self.snapshot_error
        return {
            "design": "monolith",
            "uptime_s": 12.5,
            "aggregate_fps": 10.0 * len(self.cameras),
            "cameras": [_camera(cid, index) for index, cid in enumerate(self.cameras)],
            "batcher": {
                "frames_in": 100,
                "frames_done": 90,
                "dropped_queue_full": 3,
                "dropped_inference_error": 1,
                "requests": 12,
                "request_errors": 1,
                "batch_sizes": {8: 10, 2: 2},
                "last_error": "",
            },
            "scheduler_switches": 4,
            "motion": {"passed": 80, "skipped": 15, "forced": 5},
            "sink": {"published": 7, "buffered": 0, "dropped": 0, "errors": 0, "connected": True},
            "ray_calls": 321,
        }


def _camera(camera_id: str, index: int) -> dict[str, Any]:
    return {
        "camera_id": camera_id,
        "state": "streaming",
        "model": "monolith",
        "condition": "day",
        "fps": 10.0,
        "frames_in": 50 + index,
        "frames_inferred": 45,
        "frames_skipped_motion": 5,
        "detections": 9,
        "events": 2,
        "dropped_decode_queue": 1,
        "reconnects": 0,
        "latency_p50_ms": 40.0 if index == 0 else float("nan"),  # NaN: no frame inferred yet
        "latency_p99_ms": 80.0 if index == 0 else float("nan"),
        "last_error": None,
    }


class LoopThread:
    """Runs ``pipeline.step()`` and ``bridge.poll()`` in a thread, as the pipeline's driver loop does."""

    def __init__(self, pipeline: FakePipeline, bridge: ControlBridge) -> None:
        self.pipeline = pipeline
        self.bridge = bridge
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-pipeline", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.pipeline.step()
            self.bridge.poll()
            time.sleep(0.005)

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
