"""Placement bookkeeping: least loaded live worker with room, evacuation, unplaced cameras."""

from __future__ import annotations

from pipeline.config import CameraConfig
from pipeline.controller.placement import Placement, WorkerRecord


def _camera(camera_id: str) -> CameraConfig:
    return CameraConfig(id=camera_id, url=f"/clips/{camera_id}.mp4")


def test_placement_choose_least_loaded_live_worker_with_room():
    placement = Placement(cameras_per_worker=2)
    assert placement.choose() is None
    a, b = WorkerRecord("worker-0", None), WorkerRecord("worker-1", None)
    placement.workers.update({"worker-0": a, "worker-1": b})
    placement.assign(_camera("c0"), a)
    assert placement.choose() is b
    placement.assign(_camera("c1"), b)
    placement.assign(_camera("c2"), a)
    assert placement.choose() is b  # a is full
    b.failures = 1
    assert placement.choose() is None  # b missed a round: not chosen


def test_placement_evacuate_and_unassign_and_unplaced():
    placement = Placement(cameras_per_worker=4)
    worker = WorkerRecord("worker-0", None)
    placement.workers["worker-0"] = worker
    for camera_id in ("c1", "c0"):
        placement.assign(_camera(camera_id), worker)
    assert placement.worker_of("c0") is worker
    assert placement.evacuate(worker) == ["c0", "c1"] and not worker.cameras
    assert placement.unplaced(served=set()) == ["c0", "c1"]
    assert placement.unassign("c0") is None and placement.unplaced(served={"c1"}) == []


def test_placement_new_worker_ids_are_unique():
    placement = Placement(cameras_per_worker=1)
    assert [placement.new_worker_id() for _ in range(3)] == ["worker-0", "worker-1", "worker-2"]
