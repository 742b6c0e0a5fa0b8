"""CPU and memory per component over a window, by process id.

Components are named sets of pids: the driver (this process only: Ray, Triton and Redis are its children but
counted apart), the Ray camera-actor workers, ``tritonserver`` with its python-backend stubs, and redis. A
``machine`` entry gives the whole host's CPU, which on a shared machine tells how much noise a point saw.

A process's CPU is the sum of its threads' run times in nanoseconds (``/proc/PID/task/TID/schedstat``), not
psutil's user + system times: those come in clock ticks of 10 ms per process, and a window of a few
seconds of a lightly loaded component (Triton serving the null models of ``camfleet plan calibrate``: about
0.1 s of CPU in 5 s) then reads whole ticks, so two calibrations read exactly 2.4 and 3.0 ms a request. A
thread that ends inside the window loses what it ran since the window opened; where schedstat cannot be
read (another OS, a kernel without it), psutil's times stand in.
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


@dataclass(frozen=True)
class ProcessCpu:
    """A process's CPU at one moment: each live thread's run time (ns), or psutil's times as a fallback."""

    threads_ns: Mapping[int, int] | None
    ticks_s: float

    @classmethod
    def read(cls, pid: int) -> ProcessCpu | None:
        """The process's CPU now, or None when it is gone."""
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            return None
        return cls(_threads_ns(pid), times.user + times.system)

    def seconds_since(self, earlier: ProcessCpu) -> float:
        """CPU seconds from ``earlier`` to this reading: per thread where both have threads, else ticks."""
        if self.threads_ns is None or earlier.threads_ns is None:
            return max(0.0, self.ticks_s - earlier.ticks_s)
        before = earlier.threads_ns
        # A thread started in the window counts from zero; one that ended in it is not in this reading.
        return sum(max(0, ns - before.get(tid, 0)) for tid, ns in self.threads_ns.items()) / 1e9


def _threads_ns(pid: int) -> dict[int, int] | None:
    """Nanoseconds each live thread of ``pid`` has run (field 1 of its schedstat), or None if unreadable."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    threads: dict[int, int] = {}
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
                threads[int(tid)] = int(stat.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended between the listing and the read
    return threads or None


def _read_cpu(pids: Iterable[int]) -> dict[int, ProcessCpu]:
    """The CPU of each of ``pids`` still running."""
    readings = {pid: ProcessCpu.read(pid) for pid in pids}
    return {pid: cpu for pid, cpu in readings.items() if cpu is not None}


def _rss_mb(pids: Iterable[int]) -> float:
    """Resident memory of ``pids`` in MB; vanished processes count 0."""
    rss = 0.0
    for pid in pids:
        try:
            rss += psutil.Process(pid).memory_info().rss / 2**20
        except psutil.Error:
            continue
    return rss


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
        self._cpu0: dict[str, dict[int, ProcessCpu]] = {}
        self._machine0: float = 0.0

    def start(self) -> None:
        """Read the counters at the start of the window."""
        self._t0 = time.monotonic()
        self._cpu0 = {name: _read_cpu(pids) for name, pids in self.components.items()}
        self._machine0 = _machine_busy_s()

    def stop(self) -> ResourceUsage:
        """Read them again; return usage over the window (a process gone by then counts 0)."""
        wall = max(time.monotonic() - self._t0, 1e-6)
        cpu, rss, seconds = {}, {}, {}
        for name, pids in self.components.items():
            before = self._cpu0.get(name, {})
            after = _read_cpu(pids)
            seconds[name] = sum(now.seconds_since(before[pid]) for pid, now in after.items() if pid in before)
            cpu[name] = round(100 * seconds[name] / wall, 1)
            rss[name] = round(_rss_mb(pids), 1)
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
