"""Exponential backoff with jitter and a cap, for reconnecting cameras.

Jitter spreads the retries of many cameras that lost the same server at the same moment, so they do not all
knock on it again in the same millisecond.
"""

from __future__ import annotations

import logging
import random

from pipeline.ingest.spec import BackoffConfig

logger = logging.getLogger(__name__)


class Backoff:
    """Delays ``initial * factor**n`` (n = failures since the last success), capped, times ``1 +- jitter``."""

    def __init__(self, config: BackoffConfig, *, seed: int | None = None) -> None:
        """Create a backoff at its first step.

        Args:
            config: Initial delay, growth factor, cap and jitter.
            seed: Seed of this instance's own random generator (no shared global state).
        """
        self._config = config
        self._rng = random.Random(seed)
        self._failures = 0

    @property
    def failures(self) -> int:
        """Failures since the last :meth:`reset`."""
        return self._failures

    def next_delay(self) -> float:
        """Return the delay before the next attempt, in seconds, and count one failure."""
        cfg = self._config
        base = min(cfg.max_s, cfg.initial_s * cfg.factor ** min(self._failures, 64))
        self._failures += 1
        return max(0.0, base * (1.0 + self._rng.uniform(-cfg.jitter, cfg.jitter)))

    def reset(self) -> None:
        """Start again from the initial delay (after a connection delivered frames)."""
        self._failures = 0
