"""Fixtures for end-to-end pipeline tests: real Ray, Triton, Redis and PyAV, synthetic clips."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import PipelineConfig
from pipeline.events.config import RedisConfig
from pipeline.events.redis_server import EmbeddedRedis
from pipeline.events.sink import RedisEventSink
from pipeline.models import load_model_config
from pipeline.runtime.pipeline import Pipeline
from pipeline.serving.client import TritonClient
from pipeline.world.clips import Schedule, write_clip


@pytest.fixture(scope="session")
def pipeline_redis() -> Iterator[EmbeddedRedis]:
    """A real redis-server for the pipeline tests."""
    with EmbeddedRedis() as server:
        yield server


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
    """A pipeline running in a background thread, and helpers to wait on its counters."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.stop_event = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="pipeline-under-test", daemon=True)

    def _run(self) -> None:
        try:
            self.pipeline.run(self.stop_event)
        except BaseException as exc:  # surfaced by the test, never swallowed
            self.errors.append(exc)

    def camera(self, camera_id: str) -> dict[str, Any]:
        """The camera's row of the latest snapshot (empty when unknown)."""
        rows = {row["camera_id"]: row for row in self.pipeline.snapshot()["cameras"]}
        return rows.get(camera_id, {})

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``predicate`` until it holds; fail the test with ``what`` and a snapshot otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert not self.errors, f"pipeline thread died: {self.errors[0]!r}"
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}: {self.pipeline.snapshot()}")


@pytest.fixture
def run_pipeline(ray_session: None, pipeline_redis: EmbeddedRedis) -> Callable[..., Any]:
    """Context manager factory: ``with run_pipeline(config_dict, triton_url) as harness: ...``."""

    @contextmanager
    def start(config: dict[str, Any], triton_url: str, redis_url: str | None = None) -> Iterator[Harness]:
        pipeline_config = PipelineConfig.model_validate(config)
        redis_config = RedisConfig(retry_initial_s=0.05, retry_max_s=0.5)
        sink = RedisEventSink.from_url(redis_url or pipeline_redis.url, redis_config)
        with TritonClient(triton_url, timeout_s=30, retries=1, backoff_s=0.05) as client:
            pipeline = Pipeline(pipeline_config, model_config=load_model_config(), triton=client, sink=sink)
            pipeline.start()
            harness = Harness(pipeline)
            harness.thread.start()
            try:
                yield harness
            finally:
                harness.stop_event.set()
                harness.thread.join(timeout=30)
                pipeline.stop(drain_timeout_s=10)
                sink.close(5)
            assert not harness.errors, f"pipeline thread died: {harness.errors[0]!r}"

    return start
