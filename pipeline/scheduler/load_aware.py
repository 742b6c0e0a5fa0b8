"""The ``load_aware`` policy: a condition policy plus graceful degradation under sustained load.

A stream is *over budget* when the Triton queue time or the camera's lag exceeds its budget. After
``degrade_after_s`` over budget the stream moves to the fallback design and/or a lower fps; it moves back
only after ``recover_after_s`` with every signal below ``recover_ratio`` of its budget. The gap between the
two levels and the two hold times keep a stream from flapping when load hovers near the budget.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.scheduler.base import Decision, Observation, StreamState
from pipeline.scheduler.config import LoadAwarePolicyConfig
from pipeline.scheduler.registry import build_policy, register_policy

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _LoadState:
    degraded: bool = False
    since: float | None = None  # when the signal that may flip ``degraded`` was first seen, in clock_s
    reason: str = ""


@register_policy("load_aware")
class LoadAwarePolicy:
    """Degrades a stream (cheaper design, lower fps) while the server or camera is over budget."""

    def __init__(self, config: LoadAwarePolicyConfig) -> None:
        """Build the wrapped condition policy from ``config.base``."""
        self.config = config
        self.base = build_policy(config.base)

    def over_budget(self, observation: Observation) -> bool:
        """True when any load signal is above its budget (a missing signal is never over)."""
        queue, lag = observation.queue_ms, observation.lag_s
        return (queue is not None and queue > self.config.queue_budget_ms) or (
            lag is not None and lag > self.config.lag_budget_s
        )

    def recovered(self, observation: Observation) -> bool:
        """True when every load signal is below ``recover_ratio`` of its budget."""
        ratio = self.config.recover_ratio
        queue, lag = observation.queue_ms, observation.lag_s
        return (queue is None or queue < ratio * self.config.queue_budget_ms) and (
            lag is None or lag < ratio * self.config.lag_budget_s
        )

    def decide(self, stream: StreamState, observation: Observation) -> Decision:
        """Return the base policy's decision, degraded while the stream is in the overloaded state."""
        decision = self.base.decide(stream, observation)
        state = stream.policy_state("load_aware", _LoadState)
        now = observation.clock_s
        if state.degraded:
            pressing, hold = self.recovered(observation), self.config.recover_after_s
        else:
            pressing, hold = self.over_budget(observation), self.config.degrade_after_s
        if not pressing:
            state.since = None
        else:
            if state.since is None or now < state.since:  # a clock that went back restarts the hold
                state.since = now
            if now - state.since >= hold:
                state.degraded, state.since = not state.degraded, None
                state.reason = self._describe(observation, state.degraded)
        if not state.degraded:
            return decision
        return Decision(
            decision.condition,
            self.config.fallback_design or decision.design,
            decision.fps_factor * self.config.fallback_fps_factor,
            f"{state.reason}; {decision.reason}",
        )

    def _describe(self, observation: Observation, degraded: bool) -> str:
        queue = "n/a" if observation.queue_ms is None else f"{observation.queue_ms:.0f} ms"
        lag = "n/a" if observation.lag_s is None else f"{observation.lag_s:.1f} s"
        verb = "over budget" if degraded else "recovered"
        return (
            f"load_aware: {verb} (queue {queue} / {self.config.queue_budget_ms:g} ms, "
            f"lag {lag} / {self.config.lag_budget_s:g} s)"
        )
