from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray

from pipeline.ingest.actor import create_camera_group
from pipeline.ingest.frames import CameraState, Frame, FrameBatch
from pipeline.ingest.spec import BackoffConfig, CameraSpec
from pipeline.netutil import free_port

from .clip_server import wait_until

pytestmark = pytest.mark.usefixtures("ray_session")
CALL_TIMEOUT_S = 20


def _spec(cid: str, url: str, **kw: Any) -> CameraSpec:
    return CameraSpec(camera_id=cid, url=url, fps=10, width=96, height=64, **kw)


@pytest.fixture()
def group_factory() -> Iterator[Any]:
    actors: list[Any] = []

    def make(specs: list[CameraSpec]) -> Any:
        actor = create_camera_group(specs)
        actors.append(actor)
        assert ray.get(actor.ready.remote(), timeout=CALL_TIMEOUT_S)
        return actor

    yield make
    for actor in actors:
        ray.get(actor.stop.remote(), timeout=CALL_TIMEOUT_S)
        ray.kill(actor)


def _take_until(actor: Any, cameras: set[str], calls: int = 200) -> list[Frame]:
    for _ in range(calls):
        frames: list[Frame] = ray.get(actor.take.remote(32, 0.2), timeout=CALL_TIMEOUT_S)
        if {f.camera_id for f in frames} >= cameras:
            return frames
    raise AssertionError(f"no single take() returned frames of all of {sorted(cameras)}")


def test_camera_group_actor_take_returns_several_cameras_in_one_call(
    group_factory: Any, clip_mp4: Path, tmp_path: Path
) -> None:
    bad = _spec(
        "bad",
        f"tcp://user:pw@127.0.0.1:{free_port()}?x=1",
        open_timeout_s=1,
        backoff=BackoffConfig(initial_s=0.05, max_s=0.2),
    )
    specs = [_spec(f"cam{i}", str(clip_mp4), realtime=False, queue_size=8) for i in range(3)] + [bad]
    actor = group_factory(specs)
    assert wait_until(
        lambda: all(
            s.queued >= 2
            for c, s in ray.get(actor.stats.remote(), timeout=CALL_TIMEOUT_S).items()
            if c != "bad"
        ),
        15,
    )
    frames = _take_until(actor, {"cam0", "cam1", "cam2"})
    assert all(f.image.shape == (64, 96, 3) and f.image.dtype == np.uint8 for f in frames)
    stats = ray.get(actor.stats.remote(), timeout=CALL_TIMEOUT_S)
    assert stats["bad"].state in (CameraState.BACKING_OFF, CameraState.CONNECTING)
    assert "pw" not in (stats["bad"].last_error or "") and stats["bad"].errors >= 1
    assert all(stats[f"cam{i}"].state is CameraState.RUNNING for i in range(3))
    batch: FrameBatch = ray.get(actor.take_batch.remote(8, 0.5), timeout=CALL_TIMEOUT_S)
    assert batch.images.shape[1:] == (64, 96, 3) and len(batch) >= 1


def test_camera_group_actor_simulated_cameras_add_and_remove_at_run_time(
    group_factory: Any, tmp_path: Path
) -> None:
    from pipeline.world.simulator import CameraSimulator

    with CameraSimulator(2, tmp_path, seconds=2, size=(320, 180), fps=10) as sim:
        actor = group_factory([_spec(sim.cameras[0].camera_id, sim.cameras[0].url)])
        _take_until(actor, {"cam0"})
        ray.get(actor.add_camera.remote(_spec("cam1", sim.cameras[1].url)), timeout=CALL_TIMEOUT_S)
        _take_until(actor, {"cam1"})
        final = ray.get(actor.remove_camera.remote("cam0"), timeout=CALL_TIMEOUT_S)
        assert final.state is CameraState.STOPPED and final.sampled > 0
        assert ray.get(actor.camera_ids.remote(), timeout=CALL_TIMEOUT_S) == ["cam1"]
        frames = ray.get(actor.take.remote(32, 0.5), timeout=CALL_TIMEOUT_S)
        frames += ray.get(actor.take.remote(32, 0.5), timeout=CALL_TIMEOUT_S)
        assert frames and {f.camera_id for f in frames} == {"cam1"}
