"""Condition policies that need no pixels: ``static`` and ``time_of_day`` (sun elevation from astral).

Every condition policy lets a camera's fixed condition win (:func:`fixed_decision`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from astral.sun import elevation

from pipeline.scheduler.base import Decision, Observation, StreamState
from pipeline.scheduler.config import StaticPolicyConfig, TimeOfDayPolicyConfig
from pipeline.scheduler.registry import register_policy

logger = logging.getLogger(__name__)


def fixed_decision(stream: StreamState, observation: Observation) -> Decision | None:
    """The decision for a camera whose config fixes its condition, or None when it does not."""
    if observation.fixed_condition is None:
        return None
    return Decision(observation.fixed_condition, stream.design, reason="condition fixed in camera config")


@register_policy("static")
class StaticPolicy:
    """The same condition for every frame."""

    def __init__(self, config: StaticPolicyConfig) -> None:
        """Keep ``config``."""
        self.config = config
        self._reason = f"static policy: {config.condition}"

    def decide(self, stream: StreamState, observation: Observation) -> Decision:
        """Return the configured condition on the stream's design."""
        fixed = fixed_decision(stream, observation)
        if fixed is not None:
            return fixed
        return Decision(self.config.condition, stream.design, reason=self._reason)


@dataclass(slots=True)
class _SunState:
    computed_at: float = float("-inf")
    elevation_deg: float = 0.0
    latitude: float = float("nan")
    longitude: float = float("nan")
    reason: str = ""


@register_policy("time_of_day")
class TimeOfDayPolicy:
    """Day, dusk or night from the sun's elevation at the camera, at the frame's time.

    Dawn counts as ``dusk``: both are the same low, warm light for the dusk specialist.
    """

    def __init__(self, config: TimeOfDayPolicyConfig) -> None:
        """Keep ``config``."""
        self.config = config

    def condition_for(self, elevation_deg: float) -> str:
        """The condition for a sun elevation in degrees."""
        if elevation_deg >= self.config.day_above_deg:
            return "day"
        if elevation_deg < self.config.night_below_deg:
            return "night"
        return "dusk"

    def decide(self, stream: StreamState, observation: Observation) -> Decision:
        """Return the condition for the sun's elevation, recomputed at most every ``refresh_s``."""
        fixed = fixed_decision(stream, observation)
        if fixed is not None:
            return fixed
        location = observation.location
        if location is None:
            return Decision(self.config.fallback_condition, stream.design, reason="time_of_day: no location")
        sun = stream.policy_state("time_of_day", _SunState)
        now = observation.clock_s
        moved = sun.latitude != location.latitude or sun.longitude != location.longitude
        # The sun moves about 0.25 degrees a minute, so a cached elevation is good for a while.
        if moved or not 0.0 <= now - sun.computed_at < self.config.refresh_s:
            sun.elevation_deg = elevation(location.observer, observation.frame_time)
            sun.computed_at = now
            sun.latitude, sun.longitude = location.latitude, location.longitude
            sun.reason = f"time_of_day: sun at {sun.elevation_deg:.1f} deg"
        return Decision(self.condition_for(sun.elevation_deg), stream.design, reason=sun.reason)
