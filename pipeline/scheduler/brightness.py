"""The ``brightness`` policy: condition from the frame's mean luma, with hysteresis so flicker cannot flap.

Two guards keep a stream from flapping between specialists: a band must be left by ``hysteresis_margin``
luma beyond its threshold, and the new condition must hold for ``min_frames`` consecutive frames. Grey
frames (an IR camera at night is bright but colourless) read as night whatever their luma.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.scheduler.base import Decision, Observation, StreamState
from pipeline.scheduler.config import BrightnessPolicyConfig
from pipeline.scheduler.registry import register_policy
from pipeline.scheduler.time_policies import fixed_decision

logger = logging.getLogger(__name__)

_LEVELS = ("night", "dusk", "day")


@dataclass(slots=True)
class _BrightnessState:
    level: int | None = None
    candidate: int | None = None
    count: int = 0
    reason: str = ""


@register_policy("brightness")
class BrightnessPolicy:
    """Night, dusk or day from mean luma; grey (IR) frames are night."""

    def __init__(self, config: BrightnessPolicyConfig) -> None:
        """Keep ``config``."""
        self.config = config
        self._thresholds = (config.night_below, config.day_above)

    def level_for(self, luma: float, current: int | None) -> int:
        """Band of ``luma`` (0 night, 1 dusk, 2 day), each threshold pushed away from ``current``.

        With ``current`` None (no band yet) the plain thresholds apply.
        """
        margin = self.config.hysteresis_margin
        level = 0
        for index, threshold in enumerate(self._thresholds):
            if current is not None:
                # Going up from at or below this threshold needs luma past it plus the margin; down, minus.
                threshold = threshold + margin if current <= index else threshold - margin
            if luma >= threshold:
                level = index + 1
        return level

    def decide(self, stream: StreamState, observation: Observation) -> Decision:
        """Return the stream's band, switching only after ``min_frames`` frames agree on a new one."""
        fixed = fixed_decision(stream, observation)
        if fixed is not None:
            return fixed
        state = stream.policy_state("brightness", _BrightnessState)
        luma = observation.mean_luma
        if luma is None:
            if state.level is None:
                return Decision(
                    self.config.fallback_condition, stream.design, reason="brightness: no luma yet"
                )
            return Decision(_LEVELS[state.level], stream.design, reason=state.reason)
        grey = observation.chroma is not None and observation.chroma <= self.config.grey_tolerance
        target = 0 if grey else self.level_for(luma, state.level)
        current = state.level
        if current is None:
            current = self._adopt(state, target, luma, grey)
        elif target == current:
            state.candidate, state.count = None, 0
        else:
            if target == state.candidate:
                state.count += 1
            else:
                state.candidate, state.count = target, 1
            if state.count >= self.config.min_frames:
                current = self._adopt(state, target, luma, grey)
        return Decision(_LEVELS[current], stream.design, reason=state.reason)

    @staticmethod
    def _adopt(state: _BrightnessState, level: int, luma: float, grey: bool) -> int:
        state.level, state.candidate, state.count = level, None, 0
        state.reason = "brightness: grey (IR) frame" if grey else f"brightness: luma {luma:.0f}"
        return level
