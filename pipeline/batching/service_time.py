"""Service time of one model's requests as a line, ``t(b) = fixed + per_frame * b``, and two ways to fit it.

- :class:`ServiceTimeModel` fits the round trips this worker measured (send to answer), through the
  fastest recent answer of each batch size. It needs nothing from the server, but a round trip includes
  whatever the request waited in the server's queue: when several workers share one model instance, every
  answer waits behind the others' requests, and even the fastest one overstates the cost.
- :func:`fit_service_line` over the server's own execution times per batch size (Triton's statistics,
  read by :class:`~pipeline.serving.compute_times.ServerComputeTimes`), which never include queueing.

The batcher prefers the second where the server reports it: sizing batches from a service time inflated
by queueing shrinks them, and smaller batches make the server busier still.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

SAMPLES = 64
"""Answers the round-trip fit looks back over."""


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """``t(b) = fixed_s + per_frame_s * b`` seconds for a request of ``b`` frames."""

    fixed_s: float
    per_frame_s: float

    def estimate(self, batch: int) -> float:
        """Seconds to serve a request of ``batch`` frames."""
        return self.fixed_s + self.per_frame_s * batch

    def largest_batch_within(self, seconds: float, max_batch: int) -> int:
        """The largest batch (1..``max_batch``) whose estimate fits ``seconds``."""
        if self.per_frame_s <= 0:  # answers faster than the clock resolves: any batch fits
            return max_batch
        fits = math.floor((seconds - self.fixed_s) / self.per_frame_s + 1e-9)
        return int(min(max_batch, max(1, fits)))


COVERED = 0.9
"""Share of the weight the line is fitted through: the most frequent batch sizes that make it up."""


def fit_service_line(points: Mapping[int, tuple[float, float]]) -> ServiceLine | None:
    """Weighted least-squares line through ``{batch: (seconds, weight)}``; None without a positive weight.

    Only the most frequent batch sizes that together hold ``COVERED`` of the weight are fitted. A size
    seen rarely steers a line by its leverage alone: a fresh worker's first request goes out at the cap,
    under start-up contention, and that one execution of 32 frames at five times the usual cost per
    frame once set every target of its model to one or two frames for the seconds it stayed in view.

    With one batch size, all the time is charged per frame (no fixed part): the estimate of a smaller
    batch is then optimistic, of a larger batch exact for compute-bound models. A slope that comes out
    negative (noise on nearly equal batches) falls back to the mean cost per frame.
    """
    used = _most_frequent({b: (t, w) for b, (t, w) in points.items() if w > 0 and b > 0})
    if not used:
        return None
    weight = sum(w for _, w in used.values())
    sum_b = sum(w * b for b, (_, w) in used.items())
    sum_t = sum(w * t for t, w in used.values())
    mean_per_frame = ServiceLine(0.0, max(sum_t, 0.0) / max(sum_b, 1e-12))
    if len(used) == 1:
        return mean_per_frame
    sum_bb = sum(w * b * b for b, (_, w) in used.items())
    sum_bt = sum(w * b * t for b, (t, w) in used.items())
    per_frame = (weight * sum_bt - sum_b * sum_t) / (weight * sum_bb - sum_b * sum_b)
    if per_frame <= 0:
        return mean_per_frame
    return ServiceLine(max(0.0, (sum_t - per_frame * sum_b) / weight), per_frame)


def _most_frequent(points: dict[int, tuple[float, float]]) -> dict[int, tuple[float, float]]:
    """The heaviest points that together hold ``COVERED`` of the total weight (at least one)."""
    total = sum(w for _, w in points.values())
    kept: dict[int, tuple[float, float]] = {}
    covered = 0.0
    for batch, (seconds, weight) in sorted(points.items(), key=lambda item: -item[1][1]):
        if kept and covered >= COVERED * total:
            break
        kept[batch] = (seconds, weight)
        covered += weight
    return kept


class ServiceTimeModel:
    """The round-trip line of one model, through the fastest of the last ``samples`` answers per batch size.

    Each size weighs as many as its answers among those samples.

    The lower envelope keeps occasional queueing from passing for cost; sustained queueing (a shared,
    saturated server) still does, which is why the server's own times are preferred where known.
    """

    def __init__(self, samples: int = SAMPLES) -> None:
        """Keep the last ``samples`` answers."""
        self._samples: deque[tuple[int, float]] = deque(maxlen=samples)
        self._line: ServiceLine | None = None

    def observe(self, batch: int, seconds: float) -> None:
        """Record one answered request of ``batch`` frames that took ``seconds`` from send to answer."""
        self._samples.append((batch, seconds))
        fastest: dict[int, float] = {}
        answers: dict[int, int] = {}
        for size, took in self._samples:
            answers[size] = answers.get(size, 0) + 1
            if took < fastest.get(size, math.inf):
                fastest[size] = took
        self._line = fit_service_line({size: (took, answers[size]) for size, took in fastest.items()})

    @property
    def line(self) -> ServiceLine | None:
        """The fitted line; None before the first answer."""
        return self._line
