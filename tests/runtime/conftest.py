"""Fixtures for end-to-end fleet tests: real Ray, Triton, Redis and PyAV, synthetic clips."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import PipelineConfig
from pipeline.events.redis_server import EmbeddedRedis
from pipeline.models import load_model_config
from pipeline.runtime.fleet import Fleet, start_fleet
from pipeline.status import CameraStatus, FleetStatus, WorkerStatus
from pipeline.world.clips import Schedule, write_clip


@pytest.fixture(scope="session")
def steady_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose ``monolith`` sees the same objects in every frame: a steady source of events.

    The head's last layers are planted (zero weights, chosen biases), so every frame gives the same K boxes
    of 32 px with score 0.88 and class 0. It goes through the real export path and the real Triton; only
    the weights are chosen instead of trained or random.
    """
    import torch

    from pipeline.models import build_model, load_model_config
    from pipeline.models.export import export_repository

    config = load_model_config()
    model = build_model("monolith", config)
    head = model.branch.head
    with torch.no_grad():
        for layer in (head.heatmap, head.size, head.offset):
            layer.weight.zero_()
        head.heatmap.bias.fill_(-10.0)
        head.heatmap.bias[0] = 2.0
        head.size.bias.fill_(4.0)  # 4 grid cells x stride 8 = 32 px
        head.offset.bias.zero_()
    weights = tmp_path_factory.mktemp("steady_weights")
    torch.save(model.state_dict(), weights / "monolith.pt")
    repository = tmp_path_factory.mktemp("steady_models")
    export_repository(config, repository, weights=weights, models=["monolith"])
    return repository


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Write (once per session and arguments) a synthetic 640x360 clip and return its path."""
    folder = tmp_path_factory.mktemp("clips")
    made: dict[tuple[Any, ...], Path] = {}

    def make(
        condition: str = "day", *, seconds: float = 10.0, seed: int = 0, cycle_s: float | None = None
    ) -> Path:
        key = (condition, seconds, seed, cycle_s)
        if key not in made:
            path = folder / f"{condition}-{seconds}-{seed}-{cycle_s}.mp4"
            schedule = Schedule(((0.0, "day"), (cycle_s, "night"))) if cycle_s else None
            write_clip(
                path,
                condition=condition,
                seconds=seconds,
                size=(640, 360),
                fps=10,
                seed=seed,
                schedule=schedule,
            )
            made[key] = path
        return made[key]

    return make


class Harness:
    """A running fleet (controller + camera workers) and helpers that read its typed status."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.final: FleetStatus | None = None
        """The status the drained fleet left when it stopped (set when the ``with`` block ends)."""

    def status(self) -> FleetStatus:
        """The status after a supervision round run now."""
        return self.fleet.refresh()

    def camera(self, camera_id: str) -> CameraStatus | None:
        """The camera's latest status (None when no live worker serves it)."""
        return self.status().camera(camera_id)

    def inferred(self, camera_id: str) -> int:
        """Frames the camera's worker inferred so far (0 while it is not served)."""
        camera = self.camera(camera_id)
        return camera.frames_inferred if camera is not None else 0

    def workers(self) -> list[WorkerStatus]:
        """The latest status of every live worker."""
        return self.status().live_workers()

    def batcher_total(self, counter: str) -> int:
        """One batcher counter summed over the live workers."""
        return sum(int(getattr(w.batcher, counter)) for w in self.workers())

    def sink_total(self, counter: str) -> int:
        """One sink counter summed over the live workers."""
        return sum(int(getattr(w.sink, counter)) for w in self.workers())

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``predicate`` until it holds; fail the test with ``what`` and the status otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {self.status()}")


FAST_SUPERVISION = {"health_interval_s": 0.5, "ping_timeout_s": 2.0}
"""Ray settings that let supervision notice a lost worker quickly in tests."""


@pytest.fixture
def run_pipeline(ray_session: None, pipeline_redis: EmbeddedRedis) -> Callable[..., Any]:
    """Context manager factory: ``with run_pipeline(config_dict, triton_url) as harness: ...``."""

    @contextmanager
    def start(
        config: dict[str, Any], triton_url: str | list[str], redis_url: str | None = None
    ) -> Iterator[Harness]:
        data = {**config, "control": {"enabled": False}}
        data["ray"] = {**FAST_SUPERVISION, **config.get("ray", {})}
        data["redis"] = {"retry_initial_s": 0.05, "retry_max_s": 0.5, **config.get("redis", {})}
        urls = [triton_url] if isinstance(triton_url, str) else list(triton_url)
        fleet = start_fleet(
            PipelineConfig.model_validate(data),
            input_size=load_model_config().input_size,
            triton_urls=urls,
            redis_url=redis_url or pipeline_redis.url,
        )
        harness = Harness(fleet)
        try:
            yield harness
        finally:
            harness.final = fleet.stop(drain_timeout_s=10)

    return start
