"""The fleet's load signal: each model's queue and compute time, read from every Triton server.

Triton's statistics are cumulative; the monitor keeps the previous reading and turns the difference into
means over the last window, summed over every server. For an ensemble the queue time is the sum over its
steps (the ensemble itself hardly queues: its steps do), which is what a frame sent to it waits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.errors import InferenceError
from pipeline.models.designs import ENSEMBLES
from pipeline.serving.client import ModelStatistics, TritonClient
from pipeline.status import LoadSignal

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Totals:
    requests: int
    queue_ns: int
    compute_ns: int

    @classmethod
    def of(cls, stats: ModelStatistics) -> _Totals:
        compute = stats.compute_input_ns + stats.compute_infer_ns + stats.compute_output_ns
        return cls(stats.request_count, stats.queue_ns, compute)

    def __add__(self, other: _Totals) -> _Totals:
        return _Totals(
            self.requests + other.requests,
            self.queue_ns + other.queue_ns,
            self.compute_ns + other.compute_ns,
        )


class LoadMonitor:
    """Reads the statistics of ``served`` models (and their ensemble steps) from the current servers."""

    def __init__(
        self,
        clients: Callable[[], Sequence[TritonClient]],
        served: Sequence[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Read from whatever servers ``clients()`` returns at each reading."""
        self._clients = clients
        self.served = tuple(served)
        steps = [m for model in self.served for m in (ENSEMBLES[model].steps if model in ENSEMBLES else ())]
        self._models = tuple(dict.fromkeys([*self.served, *steps]))
        self._clock = clock
        self._previous: dict[str, _Totals] = {}
        self._previous_at: float | None = None
        self.errors = 0

    def read(self) -> LoadSignal:
        """The means since the previous call (empty on the first call: nothing to compare with)."""
        totals: dict[str, _Totals] = {}
        for client in self._clients():
            for model in self._models:
                try:
                    stats = client.statistics(model)
                except InferenceError as exc:  # a server that is down has no statistics; the others count
                    self.errors += 1
                    logger.debug("no statistics of %s from %s: %s", model, client.url, exc)
                    continue
                totals[model] = totals[model] + _Totals.of(stats) if model in totals else _Totals.of(stats)
        now = self._clock()
        previous, previous_at = self._previous, self._previous_at
        self._previous, self._previous_at = totals, now
        if previous_at is None:
            return LoadSignal(at=time.time())
        queue: dict[str, float] = {}
        compute: dict[str, float] = {}
        for model, end in totals.items():
            start = previous.get(model)
            if start is None or end.requests < start.requests:  # new, or the server restarted: no delta
                continue
            requests = end.requests - start.requests
            if requests:
                queue[model] = (end.queue_ns - start.queue_ns) / requests / 1e6
                compute[model] = (end.compute_ns - start.compute_ns) / requests / 1e6
        for model in self.served:
            if model in ENSEMBLES:
                steps = [s for s in ENSEMBLES[model].steps if s in queue]
                if steps:
                    queue[model] = sum(queue[s] for s in steps)
        return LoadSignal(queue_ms=queue, compute_ms=compute, window_s=now - previous_at, at=time.time())
