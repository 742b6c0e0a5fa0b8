"""Per-camera motion gate: skip inference on frames that barely differ from the last one inferred.

The comparison is against the last frame *sent to inference*, not the previous frame, so a slow change
(a car creeping in, dusk falling) adds up until it passes instead of hiding below the threshold forever.
A frame passes on a global change (mean grey difference) or when a small share of pixels changed clearly
(an object far away moves, which barely moves the mean).
A camera's first frame always passes, and a frame is forced through after ``max_skip_s`` without one, so
a stationary object still gets fresh detections and the tracker keeps its tracks alive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.scheduler.config import MotionGateConfig
from pipeline.scheduler.frames import Frame, grey_small

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class GateCounts:
    """Frames a camera's gate has seen.

    Attributes:
        passed: Frames sent to inference (first frames and forced ones included).
        skipped: Frames not sent.
        forced: Passed frames that were sent only because ``max_skip_s`` ran out.
    """

    passed: int = 0
    skipped: int = 0
    forced: int = 0


@dataclass(slots=True)
class _CameraGate:
    reference: npt.NDArray[np.int16]
    passed_at: float
    counts: GateCounts


class MotionGate:
    """Decides per camera and frame whether the frame goes to inference.

    Not thread-safe: one gate per camera actor (or per thread) is the intended use.
    """

    def __init__(self, config: MotionGateConfig) -> None:
        """Keep ``config``; no camera is known yet."""
        self.config = config
        self._cameras: dict[str, _CameraGate] = {}
        self._disabled_counts: dict[str, GateCounts] = {}

    def should_infer(self, camera_id: str, frame: Frame, now_s: float) -> bool:
        """True when ``frame`` of ``camera_id`` should go to inference; updates the counts.

        Args:
            camera_id: The camera.
            frame: uint8 RGB frame ``[H, W, 3]``.
            now_s: Monotonic time of the frame in seconds.

        Raises:
            ValueError: if ``frame`` is not a uint8 ``[H, W, 3]`` array.
        """
        if not self.config.enabled:
            self._disabled_counts.setdefault(camera_id, GateCounts()).passed += 1
            return True
        grey = grey_small(frame, self.config.downscale_width)
        gate = self._cameras.get(camera_id)
        if gate is None or gate.reference.shape != grey.shape or now_s < gate.passed_at:
            # First frame, a new resolution or a clock that went back: nothing valid to compare with.
            counts = gate.counts if gate is not None else GateCounts()
            self._cameras[camera_id] = _CameraGate(grey, now_s, counts)
            counts.passed += 1
            return True
        if now_s - gate.passed_at >= self.config.max_skip_s:
            gate.counts.forced += 1
        elif not self._moved(np.abs(grey - gate.reference)):
            gate.counts.skipped += 1
            return False
        gate.reference, gate.passed_at = grey, now_s
        gate.counts.passed += 1
        return True

    def _moved(self, difference: npt.NDArray[np.int16]) -> bool:
        """A global change (mean) or a small object moving (share of changed pixels) passes the gate."""
        if float(difference.mean()) >= self.config.threshold:
            return True
        changed = np.count_nonzero(difference >= self.config.pixel_threshold)
        return changed >= self.config.min_changed_fraction * difference.size

    def counts(self, camera_id: str) -> GateCounts:
        """The counts of ``camera_id`` (all zero for an unknown camera)."""
        gate = self._cameras.get(camera_id)
        if gate is not None:
            return gate.counts
        return self._disabled_counts.get(camera_id, GateCounts())

    def totals(self) -> GateCounts:
        """Counts summed over every camera."""
        total = GateCounts()
        every = [gate.counts for gate in self._cameras.values()] + list(self._disabled_counts.values())
        for counts in every:
            total.passed += counts.passed
            total.skipped += counts.skipped
            total.forced += counts.forced
        return total

    def forget(self, camera_id: str) -> None:
        """Drop a removed camera's reference frame and counts."""
        self._cameras.pop(camera_id, None)
        self._disabled_counts.pop(camera_id, None)
