"""Where each frame goes: image statistics (only if the policy reads them), scheduler, fps shedding, gate.

One downscale of the frame serves both the statistics and the motion gate. Per-stream policy state lives in
the scheduler's stream state, in the worker that serves the stream.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pipeline.config import CameraConfig
from pipeline.ingest.frames import Frame
from pipeline.scheduler.base import CameraLocation, Observation
from pipeline.scheduler.config import PolicyConfig, SchedulerConfig, reads_frame_stats
from pipeline.scheduler.frames import downscale, frame_stats
from pipeline.scheduler.motion import MotionGate
from pipeline.scheduler.scheduler import Scheduler
from pipeline.status import LoadSignal

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Routing:
    """The outcome for one frame: the model it goes to, or why it does not go anywhere.

    Attributes:
        model: Triton model of the stream's current decision (set even when the frame is skipped).
        condition: The decision's lighting condition.
        infer: True when the frame goes to inference.
        skipped_motion: True when the motion gate held it back.
        switched: True when the decision changed with this frame.
    """

    model: str
    condition: str
    infer: bool
    skipped_motion: bool = False
    switched: bool = False


class FrameRouter:
    """Routes the frames of one worker's streams (one thread only: the worker's loop)."""

    def __init__(self, scheduler: SchedulerConfig, design: str) -> None:
        """Build the policy, the scheduler and the motion gate from ``scheduler``."""
        self.design = design
        self.scheduler = Scheduler.from_config(scheduler.policy, design)
        self.policy_type: str = scheduler.policy.type
        self.motion = MotionGate(scheduler.motion)
        self._reads_stats = reads_frame_stats(scheduler.policy)
        self._locations: dict[str, CameraLocation | None] = {}
        self._fps_credit: dict[str, float] = {}
        self._model: dict[str, str] = {}

    def add(self, camera: CameraConfig) -> None:
        """Start routing ``camera``'s frames."""
        self.scheduler.add_stream(camera.id)
        location = camera.location
        self._locations[camera.id] = (
            CameraLocation(location.latitude, location.longitude, location.timezone) if location else None
        )

    def remove(self, camera_id: str) -> None:
        """Forget a camera and its policy state."""
        self.scheduler.remove_stream(camera_id)
        self.motion.forget(camera_id)
        self._locations.pop(camera_id, None)
        self._fps_credit.pop(camera_id, None)
        self._model.pop(camera_id, None)

    def set_policy(self, policy: PolicyConfig) -> None:
        """Route with another policy from the next frame on (switch counts are kept)."""
        old = self.scheduler
        self.scheduler = Scheduler.from_config(policy, self.design)
        self.scheduler.stats = old.stats
        for camera_id in old.camera_ids:
            self.scheduler.add_stream(camera_id)
        self.policy_type = policy.type
        self._reads_stats = reads_frame_stats(policy)
        logger.info("scheduler policy is now %s", policy.type)

    def route(self, frame: Frame, camera: CameraConfig, load: LoadSignal, now: float) -> Routing:
        """Decide where ``frame`` of ``camera`` goes (see the module docstring)."""
        small = downscale(frame.image, self.motion.config.downscale_width)
        stats = frame_stats(small) if self._reads_stats else None
        route = self.scheduler.route(
            Observation(
                camera_id=frame.camera_id,
                frame_time=dt.datetime.fromtimestamp(frame.wall_time, tz=dt.timezone.utc),
                location=self._locations.get(frame.camera_id),
                fixed_condition=camera.condition,
                mean_luma=None if stats is None else stats.mean_luma,
                chroma=None if stats is None else stats.chroma,
                queue_ms=load.queue_for(self._model.get(frame.camera_id)),
                lag_s=max(0.0, now - frame.capture_ts),
                monotonic_s=frame.capture_ts,
            )
        )
        self._model[frame.camera_id] = route.model
        condition = route.decision.condition
        if route.decision.fps_factor < 1.0:  # load shedding: keep that share of the frames, evenly spaced
            credit = self._fps_credit.get(frame.camera_id, 0.0) + route.decision.fps_factor
            self._fps_credit[frame.camera_id] = credit % 1.0
            if credit < 1.0:
                return Routing(route.model, condition, infer=False, switched=route.changed)
        if not self.motion.should_infer(frame.camera_id, small, frame.capture_ts):
            return Routing(route.model, condition, infer=False, skipped_motion=True, switched=route.changed)
        return Routing(route.model, condition, infer=True, switched=route.changed)
