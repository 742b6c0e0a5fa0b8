"""The camera worker in this process (no Ray): real PyAV decoding, real Triton, real Redis."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from pipeline.config import CameraConfig, PipelineConfig
from pipeline.events.sink import RedisEventSink
from pipeline.ingest.frames import Frame
from pipeline.ingest.source import PyAVSource, VideoSource, pyav_source
from pipeline.ingest.spec import CameraSpec
from pipeline.serving.pool import TritonPool
from pipeline.worker.settings import WorkerSettings
from pipeline.worker.worker import CameraWorker
from pipeline.world.clips import write_clip

pytestmark = pytest.mark.timeout(180)


class MalformingSource:
    """The real PyAV source, with every third frame replaced by a malformed one (wrong shape or empty)."""

    def __init__(self, spec: CameraSpec) -> None:
        self._source: VideoSource = PyAVSource(spec)
        self._count = itertools.count()

    @property
    def decoded(self) -> int:
        return self._source.decoded

    @property
    def skipped_to_live(self) -> int:
        return self._source.skipped_to_live

    def open(self) -> None:
        self._source.open()

    def frames(self, frame_ids: Iterator[int], stop: threading.Event) -> Iterator[Frame]:
        for frame in self._source.frames(frame_ids, stop):
            index = next(self._count)
            if index % 3 == 1:
                frame = dataclasses.replace(frame, image=np.zeros((0, 0, 3), np.uint8))
            elif index % 3 == 2:
                frame = dataclasses.replace(frame, image=frame.image[:, :, :2].copy())
            yield frame

    def close(self) -> None:
        self._source.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("worker_clip") / "day.mp4"
    write_clip(path, condition="day", seconds=4.0, size=(640, 360), fps=10, seed=5)
    return path


def _start_worker(triton_server, pipeline_redis, source_factory=pyav_source) -> CameraWorker:
    """A started monolith worker on the session's Triton and Redis."""
    config = PipelineConfig.model_validate({"design": "monolith"})
    settings = WorkerSettings.from_config(
        config, input_size=160, triton_urls=[triton_server.grpc_url], redis_url=pipeline_redis.url
    )
    return CameraWorker(
        settings,
        triton=TritonPool.connect(settings.triton_urls, health_interval_s=60),
        sink=RedisEventSink.from_url(pipeline_redis.url),
        source_factory=source_factory,
    ).start()


def test_worker_malformed_frames_are_counted_and_skipped_the_rest_inferred(
    triton_server, pipeline_redis, clip
):
    worker = _start_worker(triton_server, pipeline_redis, MalformingSource)
    try:
        worker.add_camera(CameraConfig(id="broken", url=str(clip), fps=10))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            camera = worker.status().cameras[0]
            if camera.frames_inferred >= 5 and camera.frames_malformed >= 10:
                break
            time.sleep(0.2)
        status = worker.status()
    finally:
        worker.stop(drain_timeout_s=5)
    camera = status.cameras[0]
    assert camera.frames_malformed >= 10 and camera.frames_inferred >= 5, camera
    # Two of every three frames are malformed; none of them reached Triton, and no request failed.
    assert camera.frames_inferred <= camera.frames_in - camera.frames_malformed
    assert status.batcher.request_errors == 0 and camera.state == "running"


def test_worker_accounts_cpu_per_thread_role_and_paces_its_model(triton_server, pipeline_redis, clip):
    worker = _start_worker(triton_server, pipeline_redis)
    settings = worker.settings
    try:
        worker.add_camera(CameraConfig(id="porch", url=str(clip), fps=10))
        deadline = time.monotonic() + 60
        while worker.status().cameras[0].frames_inferred < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        status = worker.status()
    finally:
        worker.stop(drain_timeout_s=5)
    assert status.cameras[0].frames_inferred >= 20
    # Each role's threads spent CPU, and together they are part of the process's CPU, not more.
    assert status.decode_cpu_s > 0 and status.loop_cpu_s > 0 and status.transport_cpu_s > 0
    assert status.decode_cpu_s + status.loop_cpu_s + status.transport_cpu_s <= status.cpu_seconds
    pacing = status.batcher.pacing["monolith"]
    assert 1 <= pacing.batch_target <= settings.batching.max_batch
    assert 1 <= pacing.in_flight_limit <= settings.batching.max_in_flight
    assert pacing.service_ms_per_batch is not None and pacing.service_ms_per_batch > 0
