"""Timing helpers shared by the calibration probes."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_s(
    call: Callable[[], object],
    *,
    reps: int,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median time of ``call`` over ``reps`` runs after ``warmup`` runs (wall time unless ``clock`` says)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(reps):
        start = clock()
        call()
        times.append(clock() - start)
    return statistics.median(times)
