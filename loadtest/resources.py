"""CPU and memory per component over a window, with psutil, by process id.

Components are named sets of pids: the driver (this process only: Ray, Triton and Redis are its children but
counted apart), the Ray camera-actor workers, ``tritonserver`` with its python-backend stubs, and redis. A
``machine`` entry gives the whole host's CPU, which on a shared machine tells how much noise a point saw.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import psutil

logger = logging.getLogger(__name__)


def with_children(pid: int | None) -> list[int]:
    """``pid`` and all its descendants (empty when ``pid`` is None or gone)."""
    if pid is None:
        return []
    try:
        process = psutil.Process(pid)
        return [pid, *(child.pid for child in process.children(recursive=True))]
    except psutil.Error:
        return []


def _cpu_s(pids: Iterable[int]) -> tuple[float, float]:
    """CPU seconds (user + system) and RSS in MB summed over ``pids``; vanished processes count 0."""
    cpu = rss = 0.0
    for pid in pids:
        try:
            process = psutil.Process(pid)
            with process.oneshot():
                times = process.cpu_times()
                cpu += times.user + times.system
                rss += process.memory_info().rss / 2**20
        except psutil.Error:
            continue
    return cpu, rss


@dataclass(frozen=True)
class ResourceUsage:
    """CPU (100 = one core) and RSS per component over one window, plus CPU seconds for cost accounting."""

    cpu_percent: dict[str, float]
    rss_mb: dict[str, float]
    cpu_seconds: dict[str, float]


class ResourceSampler:
    """Call :meth:`start` then :meth:`stop`; components are ``name -> pids`` taken at start."""

    def __init__(self, components: Mapping[str, list[int]]) -> None:
        self.components = {name: list(pids) for name, pids in components.items()}
        self._t0 = 0.0
        self._cpu0: dict[str, float] = {}
        self._machine0: float = 0.0

    def start(self) -> None:
        """Read the counters at the start of the window."""
        self._t0 = time.monotonic()
        self._cpu0 = {name: _cpu_s(pids)[0] for name, pids in self.components.items()}
        self._machine0 = _machine_busy_s()

    def stop(self) -> ResourceUsage:
        """Read them again; return usage over the window."""
        wall = max(time.monotonic() - self._t0, 1e-6)
        cpu, rss, seconds = {}, {}, {}
        for name, pids in self.components.items():
            used, memory = _cpu_s(pids)
            seconds[name] = max(0.0, used - self._cpu0.get(name, used))
            cpu[name] = round(100 * seconds[name] / wall, 1)
            rss[name] = round(memory, 1)
        machine = max(0.0, _machine_busy_s() - self._machine0)
        seconds["machine"] = machine
        cpu["machine"] = round(100 * machine / wall, 1)
        return ResourceUsage(cpu, rss, seconds)


def _machine_busy_s() -> float:
    times = psutil.cpu_times()
    return float(times.user + times.system + getattr(times, "nice", 0.0) + getattr(times, "irq", 0.0))


def driver_pids() -> list[int]:
    """This process alone (its children are other components)."""
    return [os.getpid()]
