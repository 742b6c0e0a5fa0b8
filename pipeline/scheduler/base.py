"""The policy interface: per-frame :class:`Observation`, per-stream :class:`StreamState`, :class:`Decision`.

A policy is shared by every stream; anything it must remember about one stream lives in that stream's
:class:`StreamState`, so policies hold no per-camera state of their own.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, cast

from astral import Observer

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CameraLocation:
    """Where a camera is: latitude and longitude in degrees, and its IANA time zone (informational).

    Raises:
        ValueError: if latitude or longitude is out of range.
    """

    latitude: float
    longitude: float
    timezone: str | None = None
    observer: Observer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude <= 90.0:
            raise ValueError(f"latitude {self.latitude} is outside [-90, 90]")
        if not -180.0 <= self.longitude <= 180.0:
            raise ValueError(f"longitude {self.longitude} is outside [-180, 180]")
        # Built once here: astral would otherwise re-parse the coordinates on every frame.
        object.__setattr__(self, "observer", Observer(latitude=self.latitude, longitude=self.longitude))


@dataclass(frozen=True, slots=True)
class Observation:
    """What a policy knows about one frame of one camera.

    Attributes:
        camera_id: The camera.
        frame_time: Capture time of the frame; must be timezone-aware.
        location: The camera's location, if known (needed by ``time_of_day``).
        fixed_condition: A condition set in the camera's config; it wins over every policy.
        mean_luma: Mean BT.601 luma of the frame (0-255), see :func:`pipeline.scheduler.frames.frame_stats`.
        chroma: Mean per-pixel channel spread (max-min, 0-255); near 0 for grey (IR) frames.
        queue_ms: Triton queue time of recent requests for this stream's model, in ms.
        lag_s: How far this camera's frames are behind real time, in s.
        monotonic_s: A monotonic clock reading for durations; ``frame_time`` is used when absent.
    """

    camera_id: str
    frame_time: dt.datetime
    location: CameraLocation | None = None
    fixed_condition: str | None = None
    mean_luma: float | None = None
    chroma: float | None = None
    queue_ms: float | None = None
    lag_s: float | None = None
    monotonic_s: float | None = None

    def __post_init__(self) -> None:
        if self.frame_time.utcoffset() is None:
            raise ValueError(f"camera {self.camera_id}: frame_time must be timezone-aware")

    @property
    def clock_s(self) -> float:
        """Seconds on the clock policies use for durations (monotonic when given)."""
        return self.monotonic_s if self.monotonic_s is not None else self.frame_time.timestamp()


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's answer for one frame.

    Attributes:
        condition: Lighting condition of the frame (one of ``CONDITIONS``).
        design: Name of the design to use (the stream's own, or a cheaper one under load).
        fps_factor: Multiplies the stream's target fps (1.0 = unchanged).
        reason: Why, for logs and the status page.
    """

    condition: str
    design: str
    fps_factor: float = 1.0
    reason: str = ""

    @property
    def key(self) -> tuple[str, str, float]:
        """What identifies a decision; two decisions that differ only in ``reason`` are the same."""
        return (self.condition, self.design, self.fps_factor)

    @property
    def label(self) -> str:
        """Short text form, e.g. ``specialists-condition/night`` or ``monolith/day@0.5x``."""
        fps = "" if self.fps_factor == 1.0 else f"@{self.fps_factor:g}x"
        return f"{self.design}/{self.condition}{fps}"


@dataclass(slots=True)
class StreamState:
    """Per-stream state the scheduler keeps and passes to the policy.

    Attributes:
        camera_id: The camera.
        design: The design configured for this camera.
        decision: The decision in force, or None before the first frame.
    """

    camera_id: str
    design: str
    decision: Decision | None = None
    _policy_state: dict[str, object] = field(default_factory=dict, repr=False)

    def policy_state(self, key: str, factory: Callable[[], T]) -> T:
        """The state a policy keeps for this stream under ``key``, created by ``factory`` on first use."""
        value = self._policy_state.get(key)
        if value is None:
            value = factory()
            self._policy_state[key] = value
        # Only the policy that owns ``key`` stores under it, so the type is the factory's.
        return cast(T, value)


class Policy(Protocol):
    """Chooses a condition, design and fps factor for a stream's next frame."""

    def decide(self, stream: StreamState, observation: Observation) -> Decision:
        """Return the decision for ``observation``; may update the stream's policy state."""
        ...
