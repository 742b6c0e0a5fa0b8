"""The per-stream scheduler: keeps each stream's state, asks the policy, and returns the model to call.

Switching never stops a stream: :meth:`Scheduler.route` only names the Triton model for the stream's next
frame, so a switch takes effect on the next batch. Every change of decision is counted in
:class:`SchedulerStats` and logged once.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from pipeline.errors import ConfigError
from pipeline.models.designs import Design, get_design
from pipeline.scheduler.base import Decision, Observation, Policy, StreamState
from pipeline.scheduler.config import PolicyConfig
from pipeline.scheduler.registry import build_policy

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a stream's next frame goes.

    Attributes:
        model: Triton model (plain or ensemble) to call, from ``Design.model_for(condition)``.
        decision: The policy's decision (condition, design, fps factor, reason).
        changed: True when the decision differs from the stream's previous one.
    """

    model: str
    decision: Decision
    changed: bool = False


@dataclass
class SchedulerStats:
    """Counts of decision changes (the first decision of a stream is not a change).

    Attributes:
        by_camera: Switches per camera id.
        by_transition: Switches per (from, to) decision label, e.g. ``("monolith/day", "monolith/dusk")``.
    """

    by_camera: Counter[str] = field(default_factory=Counter)
    by_transition: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """All switches so far."""
        return sum(self.by_camera.values())

    def record(self, camera_id: str, old: Decision, new: Decision) -> None:
        """Count one switch of ``camera_id`` from ``old`` to ``new``."""
        self.by_camera[camera_id] += 1
        self.by_transition[(old.label, new.label)] += 1

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for the status page and metrics."""
        return {
            "total": self.total,
            "by_camera": dict(self.by_camera),
            "by_transition": [
                {"from": old, "to": new, "count": count} for (old, new), count in self.by_transition.items()
            ],
        }


class Scheduler:
    """Chooses, per stream and frame, the Triton model to call.

    Not thread-safe: use one scheduler per thread or actor (a Ray actor calls it serially).
    """

    def __init__(self, policy: Policy, default_design: str) -> None:
        """Use ``policy`` for every stream; streams not added explicitly get ``default_design``.

        Raises:
            ModelError: if ``default_design`` is unknown.
        """
        self.policy = policy
        self.default_design = get_design(default_design).name
        self.stats = SchedulerStats()
        self._streams: dict[str, StreamState] = {}
        self._designs: dict[str, Design] = {}

    @classmethod
    def from_config(cls, config: PolicyConfig, default_design: str) -> Scheduler:
        """Build the policy from ``config`` and a scheduler around it."""
        return cls(build_policy(config), default_design)

    def add_stream(self, camera_id: str, design: str | None = None) -> StreamState:
        """Start tracking ``camera_id`` on ``design`` (default: the scheduler's default design).

        Raises:
            ConfigError: if the camera is already tracked.
            ModelError: if ``design`` is unknown.
        """
        if camera_id in self._streams:
            raise ConfigError(f"camera {camera_id!r} is already scheduled")
        name = get_design(design or self.default_design).name
        stream = StreamState(camera_id=camera_id, design=name)
        self._streams[camera_id] = stream
        return stream

    def remove_stream(self, camera_id: str) -> None:
        """Forget ``camera_id`` and its policy state (its switch counts are kept)."""
        self._streams.pop(camera_id, None)

    def stream(self, camera_id: str) -> StreamState | None:
        """The state of ``camera_id``, or None if it is not tracked."""
        return self._streams.get(camera_id)

    @property
    def camera_ids(self) -> list[str]:
        """Tracked cameras, in the order they were added."""
        return list(self._streams)

    def route(self, observation: Observation) -> Route:
        """Decide where the camera's next frame goes, and record a switch if the decision changed.

        A camera seen for the first time is added on the default design.

        Raises:
            ModelError: if the decision names an unknown design or condition (a configuration mistake).
        """
        stream = self._streams.get(observation.camera_id)
        if stream is None:
            stream = self.add_stream(observation.camera_id)
        decision = self.policy.decide(stream, observation)
        model = self._design(decision.design).model_for(decision.condition)
        previous, stream.decision = stream.decision, decision
        if previous is None:
            logger.debug("camera %s starts on %s: %s", stream.camera_id, decision.label, decision.reason)
            return Route(model, decision)
        if previous.key == decision.key:
            return Route(model, decision)
        self.stats.record(stream.camera_id, previous, decision)
        logger.info(
            "camera %s switches %s -> %s: %s",
            stream.camera_id,
            previous.label,
            decision.label,
            decision.reason,
        )
        return Route(model, decision, changed=True)

    def _design(self, name: str) -> Design:
        design = self._designs.get(name)
        if design is None:
            design = self._designs[name] = get_design(name)
        return design
