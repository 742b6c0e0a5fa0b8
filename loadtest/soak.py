"""``camfleet bench soak``: a paced fleet for N minutes, sampling memory, file descriptors and threads.

Every ``interval_s`` (a minute by default) it records, per process group (this process, the controller, the
camera workers, Triton with its stubs, Redis), the resident memory, open file descriptors and threads, plus
Redis's own ``used_memory`` and the events published and delivered. At the end it fits a line through the
samples after the warm-up (the first 5 minutes, or the first fifth of a short run) and reports the growth:
RSS growth after warm-up (target < 5%), FD growth (target 0) and events delivered = events published.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import numpy as np
import psutil
import redis

from loadtest.resources import with_children
from loadtest.runner import pipeline_config, simulated_cameras
from loadtest.settings import LoadTestSettings
from pipeline.models.model_config import ModelConfig
from pipeline.runtime.demo import demo_repository
from pipeline.runtime.fleet import Fleet, start_fleet
from pipeline.runtime.services import RunningServices, services
from pipeline.train.data import default_cache_dir

logger = logging.getLogger(__name__)

WARMUP_S = 300.0
"""Samples from the first 5 minutes are left out of the slopes (caches, arenas and pools fill up)."""


@dataclass(frozen=True)
class ProcessSample:
    """One process group at one moment."""

    rss_mb: float
    fds: int
    threads: int


@dataclass(frozen=True)
class SoakSample:
    """Everything sampled at one moment."""

    t_s: float
    groups: dict[str, ProcessSample]
    redis_used_mb: float
    events_published: int
    events_in_stream: int


@dataclass(frozen=True)
class SoakResult:
    """The samples and what they add up to."""

    samples: list[SoakSample]
    rss_growth_pct: dict[str, float]
    fd_growth: dict[str, int]
    events_published: int
    events_delivered: int

    def to_json(self) -> str:
        """The result as JSON."""
        return json.dumps(asdict(self), indent=2)


def _group(pids: Sequence[int]) -> ProcessSample:
    rss = 0.0
    fds = threads = 0
    for pid in pids:
        try:
            process = psutil.Process(pid)
            with process.oneshot():
                rss += process.memory_info().rss / 2**20
                fds += process.num_fds()
                threads += process.num_threads()
        except psutil.Error:
            continue
    return ProcessSample(round(rss, 1), fds, threads)


def _distinct_events(client: redis.Redis) -> int:
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange("camfleet:events"))
    return len({json.loads(fields[b"event"])["event_id"] for _id, fields in entries})


def _sample(t_s: float, fleet: Fleet, running: RunningServices, client: redis.Redis) -> SoakSample:
    status = fleet.refresh()
    controller_pid, _ = fleet.controller_cpu()
    groups = {
        "driver": [psutil.Process().pid],
        "controller": [controller_pid],
        "camera_workers": sorted({w.pid for w in status.live_workers()}),
        "triton": with_children(running.triton_server.pid if running.triton_server else None),
        "redis": with_children(running.redis_server.pid if running.redis_server else None),
    }
    info = client.info("memory")
    return SoakSample(
        t_s=round(t_s, 1),
        groups={name: _group(pids) for name, pids in groups.items()},
        redis_used_mb=round(float(info["used_memory"]) / 2**20, 2),
        events_published=sum(w.sink.published for w in status.live_workers()),
        events_in_stream=_distinct_events(client),
    )


def _growth(samples: list[SoakSample], warmup_s: float) -> tuple[dict[str, float], dict[str, int]]:
    """RSS growth (% of the post-warm-up start, from a fitted line) and FD change per group."""
    steady = [s for s in samples if s.t_s >= warmup_s] or samples[-2:]
    rss: dict[str, float] = {}
    fds: dict[str, int] = {}
    for name in steady[0].groups:
        t = np.array([s.t_s for s in steady])
        values = np.array([s.groups[name].rss_mb for s in steady])
        if len(steady) >= 2 and values[0] > 0:
            slope, start = np.polyfit(t - t[0], values, 1)
            rss[name] = round(100 * slope * (t[-1] - t[0]) / max(start, 1e-6), 2)
        else:
            rss[name] = 0.0
        fds[name] = steady[-1].groups[name].fds - steady[0].groups[name].fds
    return rss, fds


def soak(
    model_config: ModelConfig,
    *,
    minutes: float,
    cameras: int = 4,
    fps: float = 5.0,
    design: str = "specialists-condition",
    interval_s: float = 60.0,
    on_sample: Callable[[SoakSample], None] | None = None,
) -> SoakResult:
    """Run the soak (see the module docstring) and return its samples and growth figures."""
    settings = LoadTestSettings(
        out=Path(tempfile.gettempdir()), designs=(design,), cameras=(cameras,), fps=fps
    )
    warmup_s = min(WARMUP_S, minutes * 60 / 5)
    samples: list[SoakSample] = []
    # Trained demo weights (cached after the first run), so the fleet publishes real events to account for.
    repository = demo_repository(pipeline_config(settings, design, []), model_config, default_cache_dir())
    simulator = simulated_cameras(settings, cameras, seconds=30.0)
    with services(pipeline_config(settings, design, []), repository=repository) as running, simulator:
        config = pipeline_config(settings, design, simulator.cameras)
        fleet = start_fleet(
            config,
            input_size=model_config.input_size,
            triton_urls=running.triton_urls,
            redis_url=running.redis_url,
        )
        client = redis.Redis.from_url(running.redis_url, socket_timeout=10)
        started = time.monotonic()
        try:
            while True:
                elapsed = time.monotonic() - started
                samples.append(_sample(elapsed, fleet, running, client))
                if on_sample is not None:
                    on_sample(samples[-1])
                if elapsed >= minutes * 60:
                    break
                time.sleep(min(interval_s, max(minutes * 60 - elapsed, 0.0)) or interval_s)
        finally:
            final = fleet.stop()
        published = sum(c.events for c in final.cameras) if final else samples[-1].events_published
        delivered = _distinct_events(client)
    rss, fds = _growth(samples, warmup_s)
    return SoakResult(samples, rss, fds, published, delivered)
